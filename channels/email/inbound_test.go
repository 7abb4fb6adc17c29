package email_test

import (
	"testing"

	"github.com/chaos-relay/relay/channels/email"
)

func TestParseEventTestdata(t *testing.T) {
	tests := []struct {
		file string
		want email.Event
	}{
		{"email_received.json", email.Event{Type: "email.received", Data: email.Received{
			ID:      "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
			From:    "Alice <alice@example.com>",
			To:      []string{"support-k3x9q2m7ab@mail.example.org"},
			Subject: "Hello",
		}}},
		{"email_received_array_to.json", email.Event{Type: "email.received", Data: email.Received{
			ID:      "9b2f6c1e-5a47-4d3b-8e0f-2c7d91a4b6e3",
			From:    `"Bob Builder" <Bob.Builder@Example.COM>`,
			To:      []string{"Team <team@example.net>", "Support Desk <Support-Desk-k3x9q2m7ab@Mail.Example.org>"},
			Subject: "Re: Invoice #4411",
		}}},
		{"other_event.json", email.Event{Type: "email.sent", Data: email.Received{
			ID:      "56761188-7520-42d8-8898-ff6fc54ce618",
			From:    "Support <support-k3x9q2m7ab@mail.example.org>",
			To:      []string{"alice@example.com"},
			Subject: "Re: Hello",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev, err := email.ParseEvent(readTestdata(t, tt.file))
			must(t, err)
			deepEqual(t, "event", ev, tt.want)
		})
	}
}

func TestParseEventShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want email.Event
	}{
		{"to as a string, id instead of email_id",
			`{"type":"email.received","data":{"id":"e1","to":"Support <s@x.org>"}}`,
			email.Event{Type: "email.received", Data: email.Received{ID: "e1", To: []string{"Support <s@x.org>"}}}},
		{"email_id wins over id",
			`{"type":"email.received","data":{"id":"e1","email_id":"e2"}}`,
			email.Event{Type: "email.received", Data: email.Received{ID: "e2"}}},
		{"empty email_id falls back to id",
			`{"type":"email.received","data":{"id":"e1","email_id":""}}`,
			email.Event{Type: "email.received", Data: email.Received{ID: "e1"}}},
		{"non-strings in to are skipped",
			`{"type":"email.received","data":{"to":["a@x",1,null,{"x":1},"b@x"]}}`,
			email.Event{Type: "email.received", Data: email.Received{To: []string{"a@x", "b@x"}}}},
		{"wrong field types read as absent",
			`{"type":7,"data":{"from":["a"],"subject":{"x":1},"text":1,"html":true,"to":5,"headers":"x"}}`,
			email.Event{}},
		{"data not an object", `{"type":"email.received","data":[1,2]}`, email.Event{Type: "email.received"}},
		{"no data", `{"type":"email.received"}`, email.Event{Type: "email.received"}},
		{"null data", `{"type":"email.received","data":null}`, email.Event{Type: "email.received"}},
		{"text, html and headers array in the webhook",
			`{"type":"email.received","data":{"text":"hi","html":"<p>hi</p>","headers":[{"name":"Message-ID","value":"<m@x>"},{"name":"X-Num","value":1},{"value":"no name"},"junk"]}}`,
			email.Event{Type: "email.received", Data: email.Received{Text: "hi", HTML: "<p>hi</p>",
				Headers: []email.Header{{Name: "Message-ID", Value: "<m@x>"}}}}},
		{"headers object in order, repeated values expanded",
			`{"type":"email.received","data":{"headers":{"Z-Last":"z","Received":["r1","r2"],"A-First":"a","X-Num":3,"X-Null":null}}}`,
			email.Event{Type: "email.received", Data: email.Received{Headers: []email.Header{
				{Name: "Z-Last", Value: "z"}, {Name: "Received", Value: "r1"}, {Name: "Received", Value: "r2"}, {Name: "A-First", Value: "a"},
			}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := email.ParseEvent([]byte(tt.body))
			must(t, err)
			deepEqual(t, "event", ev, tt.want)
		})
	}
}

func TestParseEventInvalid(t *testing.T) {
	for _, body := range []string{"", " ", "null", "[]", `"email.received"`, "42", "{", `{"type":"email.received"} x`, `{"type":}`, "\xff"} {
		_, err := email.ParseEvent([]byte(body))
		errorIs(t, err, email.ErrInvalidJSON)
	}
}

func TestBareAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice <alice@example.com>", "alice@example.com"},
		{"  Bob@Example.COM  ", "bob@example.com"},
		{`"Doe, Jane" <Jane.Doe@Example.org>`, "jane.doe@example.org"},
		{"<x@y.z>", "x@y.z"},
		{"Name < spaced@x.org >", "spaced@x.org"},
		{"broken <a@b", "broken <a@b"},
		{"empty <> then <c@d.e>", "c@d.e"},
		{"", ""},
		{"   ", ""},
	}
	for _, tt := range tests {
		equal(t, "BareAddress("+tt.in+")", email.BareAddress(tt.in), tt.want)
	}
}

func TestRecipients(t *testing.T) {
	ev, err := email.ParseEvent(readTestdata(t, "email_received_array_to.json"))
	must(t, err)
	deepEqual(t, "Recipients", email.Recipients(ev.Data.To),
		[]string{"team@example.net", "support-desk-k3x9q2m7ab@mail.example.org"})
	deepEqual(t, "Recipients(empties)", email.Recipients([]string{"", " A@B ", "<>"}), []string{"a@b", "<>"})
	deepEqual(t, "Recipients(nil)", email.Recipients(nil), []string{})
}

func TestSenderAllowed(t *testing.T) {
	tests := []struct {
		allowed []string
		sender  string
		want    bool
	}{
		{nil, "anyone@x.org", true},
		{[]string{}, "unknown", true},
		{[]string{"Owner@Example.com"}, "owner@example.com", true},
		{[]string{"a@x.org", "owner@example.com"}, "OWNER@EXAMPLE.COM", true},
		{[]string{"owner@example.com"}, "other@example.com", false},
		{[]string{"owner@example.com"}, "unknown", false},
	}
	for _, tt := range tests {
		equal(t, "SenderAllowed", email.SenderAllowed(tt.allowed, tt.sender), tt.want)
	}
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		in   email.Received
		want email.Message
	}{
		{"text wins",
			email.Received{From: "Alice <Alice@Example.com>", Subject: "Hello", Text: "Hi there\n", HTML: "<p>ignored</p>"},
			email.Message{From: "alice@example.com", Subject: "Hello", Content: "Subject: Hello\n\nHi there\n"}},
		{"html only, tags stripped, entities kept",
			email.Received{From: "x@y.z", Subject: "S", HTML: "  <div><p>One &amp; <b>two</b></p>\n<br/>three</div>  "},
			email.Message{From: "x@y.z", Subject: "S", Content: "Subject: S\n\nOne &amp; two\nthree"}},
		{"unclosed < is kept",
			email.Received{From: "x@y.z", Subject: "S", HTML: "<p>a < b</p> and c"},
			email.Message{From: "x@y.z", Subject: "S", Content: "Subject: S\n\na  and c"}},
		{"tag spanning lines",
			email.Received{From: "x@y.z", Subject: "S", HTML: "<a\nhref='x'>link</a>"},
			email.Message{From: "x@y.z", Subject: "S", Content: "Subject: S\n\nlink"}},
		{"html of tags only falls back to the subject",
			email.Received{From: "x@y.z", Subject: "Only subject", HTML: "<img src=x> <br>"},
			email.Message{From: "x@y.z", Subject: "Only subject", Content: "Subject: Only subject\n\nOnly subject"}},
		{"nothing at all",
			email.Received{},
			email.Message{From: "unknown", Subject: "(no subject)", Content: "Subject: (no subject)\n\n(no subject)"}},
		{"threading from headers, case-insensitive",
			email.Received{From: "a@b.c", Subject: "Re: x", Text: "t", Headers: []email.Header{
				{Name: "message-id", Value: "<m2@b.c>"},
				{Name: "IN-REPLY-TO", Value: " <m1@b.c> "},
				{Name: "References", Value: "<m0@b.c> <m1@b.c>"},
			}},
			email.Message{From: "a@b.c", Subject: "Re: x", Content: "Subject: Re: x\n\nt", Threading: email.Threading{
				EmailMessageID: "<m2@b.c>", InReplyTo: "<m1@b.c>", References: "<m0@b.c> <m1@b.c>", ThreadID: "<m1@b.c>", IsReply: true,
			}}},
		{"not a reply: thread id is the message id",
			email.Received{From: "a@b.c", Subject: "New", Text: "t", Headers: []email.Header{{Name: "Message-Id", Value: "<m1@b.c>"}}},
			email.Message{From: "a@b.c", Subject: "New", Content: "Subject: New\n\nt", Threading: email.Threading{
				EmailMessageID: "<m1@b.c>", ThreadID: "<m1@b.c>",
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deepEqual(t, "Extract", email.Extract(tt.in), tt.want)
		})
	}
}
