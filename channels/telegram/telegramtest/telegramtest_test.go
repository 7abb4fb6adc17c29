package telegramtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
)

const token = "123:AAA-test"

// post sends body with contentType to the fake's method and returns the status and decoded answer.
func post(t *testing.T, f *telegramtest.Server, tok, method, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(f.URL+"/bot"+tok+"/"+method, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", raw, err)
	}
	return resp.StatusCode, out
}

func equal[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// compact returns v as compact JSON text.
func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEncodings(t *testing.T) {
	f := telegramtest.New(t)
	f.AddBot(token, "bot")

	status, out := post(t, f, token, "sendMessage", "application/json", `{"chat_id":42,"text":"json body","parse_mode":"Markdown"}`)
	equal(t, "json status", status, 200)
	equal(t, "json ok", out["ok"], any(true))

	form := url.Values{"chat_id": {"-100123"}, "text": {"form body"}}
	status, _ = post(t, f, token, "sendMessage", "application/x-www-form-urlencoded", form.Encode())
	equal(t, "form status", status, 200)

	status, _ = post(t, f, token, "sendMessage?chat_id=%40channel&text=query", "", "")
	equal(t, "query status", status, 200)

	want := []telegramtest.SentMessage{
		{ChatID: "42", Text: "json body", ParseMode: "Markdown"},
		{ChatID: "-100123", Text: "form body"},
		{ChatID: "@channel", Text: "query"},
	}
	got := f.Sent()
	if len(got) != len(want) {
		t.Fatalf("sent = %+v, want %+v", got, want)
	}
	for i := range want {
		equal(t, "sent", got[i], want[i])
	}

	status, _ = post(t, f, token, "setWebhook", "application/json",
		`{"url":"https://relay.example/telegram/1","secret_token":"s-1","allowed_updates":["message"]}`)
	equal(t, "setWebhook status", status, 200)
	calls := f.CallsTo("setwebhook")
	equal(t, "allowed_updates kept as JSON", calls[0].Params["allowed_updates"], `["message"]`)
	hook, secret, ok := f.Webhook(token)
	equal(t, "webhook", hook+" "+secret, "https://relay.example/telegram/1 s-1")
	equal(t, "webhook ok", ok, true)
}

func TestErrors(t *testing.T) {
	f := telegramtest.New(t)
	f.AddBot(token, "bot")
	tests := []struct {
		name, tok, method, body string
		status                  int
		answer                  string
	}{
		{"unknown token", "9:nope", "getMe", "", 401, `{"description":"Unauthorized","error_code":401,"ok":false}`},
		{"unknown method", token, "sendTelepathy", "", 404, `{"description":"Not Found","error_code":404,"ok":false}`},
		{"empty text", token, "sendMessage", `{"chat_id":1,"text":""}`, 400,
			`{"description":"Bad Request: message text is empty","error_code":400,"ok":false}`},
		{"too long", token, "sendMessage", `{"chat_id":1,"text":"` + strings.Repeat("😀", 2049) + `"}`, 400,
			`{"description":"Bad Request: message is too long","error_code":400,"ok":false}`},
		{"bad chat", token, "sendMessage", `{"chat_id":"x","text":"hi"}`, 400,
			`{"description":"Bad Request: chat not found","error_code":400,"ok":false}`},
		{"http webhook", token, "setWebhook", `{"url":"http://relay.example/x"}`, 400,
			`{"description":"Bad Request: bad webhook: An HTTPS URL must be provided for webhook","error_code":400,"ok":false}`},
		{"bad secret", token, "setWebhook", `{"url":"https://relay.example/x","secret_token":"a b"}`, 400,
			`{"description":"Bad Request: secret token contains unallowed characters","error_code":400,"ok":false}`},
		{"bad action", token, "sendChatAction", `{"chat_id":1,"action":"dancing"}`, 400,
			`{"description":"Bad Request: wrong parameter action in request","error_code":400,"ok":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := post(t, f, tt.tok, tt.method, "application/json", tt.body)
			equal(t, "status", status, tt.status)
			equal(t, "answer", compact(t, out), tt.answer)
		})
	}
	equal(t, "sent", len(f.Sent()), 0)
}

func TestProgrammedAnswers(t *testing.T) {
	f := telegramtest.New(t)
	f.AddBot(token, "bot")
	f.FailNext("sendMessage", 2, 429, "", 3)
	f.FailNext("getMe", 1, 200, "", 0)
	f.ReplyNext("getMe", 1, 502, "text/html", "<html>bad gateway</html>")

	for range 2 {
		status, out := post(t, f, token, "sendMessage", "application/json", `{"chat_id":1,"text":"hi"}`)
		equal(t, "status", status, 429)
		equal(t, "answer", compact(t, out),
			`{"description":"Too Many Requests: retry after 3","error_code":429,"ok":false,"parameters":{"retry_after":3}}`)
	}
	status, _ := post(t, f, token, "sendMessage", "application/json", `{"chat_id":1,"text":"hi"}`)
	equal(t, "third status", status, 200)

	status, out := post(t, f, token, "getMe", "", "")
	equal(t, "ok false status", status, 200)
	equal(t, "ok false answer", compact(t, out), `{"ok":false}`)

	resp, err := http.Get(f.URL + "/bot" + token + "/getMe")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	equal(t, "html status", resp.StatusCode, 502)
	equal(t, "html body", string(body), "<html>bad gateway</html>")

	status, out = post(t, f, token, "getMe", "", "")
	equal(t, "getMe status", status, 200)
	equal(t, "getMe answer", compact(t, out),
		`{"ok":true,"result":{"first_name":"Relay Test Bot","id":123,"is_bot":true,"username":"bot"}}`)

	f.RejectMarkdown(true)
	status, _ = post(t, f, token, "sendMessage", "application/json", `{"chat_id":1,"text":"a_b","parse_mode":"Markdown"}`)
	equal(t, "markdown status", status, 400)
	status, _ = post(t, f, token, "sendMessage", "application/json", `{"chat_id":1,"text":"a_b"}`)
	equal(t, "plain status", status, 200)

	var statuses []int
	for _, c := range f.Calls() {
		statuses = append(statuses, c.Status)
	}
	equal(t, "recorded statuses", compact(t, statuses), `[429,429,200,200,502,200,400,200]`)
}

func TestPostUpdateAndTextMessage(t *testing.T) {
	var gotSecret, gotType string
	var gotBody []byte
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSecret = r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		gotType = r.Header.Get("Content-Type")
		gotBody, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(relay.Close)

	update := telegramtest.TextMessage(5001, 200, "alice", "hello")
	resp := telegramtest.PostUpdate(t, relay.URL+"/telegram/ch", "s3cret", update)
	equal(t, "status", resp.StatusCode, 200)
	equal(t, "secret", gotSecret, "s3cret")
	equal(t, "content type", gotType, "application/json")

	u, err := telegram.ParseUpdate(gotBody)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "kind", u.Kind, "message")
	equal(t, "content", u.Content, "hello")
	equal(t, "from", u.From, "alice")
	equal(t, "update id", u.UpdateID, int64(5001))
	equal(t, "sender", *u.SenderID, int64(200))
	equal(t, "chat", *u.ChatID, int64(200))
	equal(t, "chat type", u.ChatType, "private")
}
