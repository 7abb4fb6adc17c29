package telegram_test

import (
	"fmt"
	"testing"

	"github.com/chaos-relay/relay/channels/telegram"
)

// show renders every field of u, dereferencing the ids, so that comparisons print readably.
func show(u telegram.Update) string {
	id := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("update=%d kind=%q content=%q from=%q sender=%s chat=%s message=%s chatType=%q edited=%t callback=%q",
		u.UpdateID, u.Kind, u.Content, u.From, id(u.SenderID), id(u.ChatID), id(u.MessageID), u.ChatType, u.Edited, u.CallbackQueryID)
}

func TestParseUpdateSamples(t *testing.T) {
	tests := []struct {
		file string
		want telegram.Update
	}{
		{"message_private.json", telegram.Update{
			UpdateID: 718302455, Kind: "message", Content: "Deploy *staging* please\nthen report back", From: "alice_l",
			SenderID: ptr(523109881), ChatID: ptr(523109881), MessageID: ptr(1287), ChatType: "private",
		}},
		{"message_group.json", telegram.Update{
			UpdateID: 718302456, Kind: "message", Content: "/status@relay_test_bot", From: "Bob",
			SenderID: ptr(771234500), ChatID: ptr(-987654321), MessageID: ptr(3301), ChatType: "group",
		}},
		{"edited_message.json", telegram.Update{
			UpdateID: 718302457, Kind: "edited_message", Content: "Deploy *production* please", From: "alice_l",
			SenderID: ptr(523109881), ChatID: ptr(523109881), MessageID: ptr(1287), ChatType: "private", Edited: true,
		}},
		{"callback_query.json", telegram.Update{
			UpdateID: 718302458, Kind: "callback_query", Content: "approve:17", From: "alice_l",
			SenderID: ptr(523109881), ChatID: ptr(523109881), CallbackQueryID: "2246768351813722501",
		}},
		{"photo_with_caption.json", telegram.Update{
			UpdateID: 718302459, Kind: "message", Content: "", From: "alice_l",
			SenderID: ptr(523109881), ChatID: ptr(523109881), MessageID: ptr(1291), ChatType: "private",
		}},
		{"message_big_ids.json", telegram.Update{
			UpdateID: 9007199254740995, Kind: "message", Content: "ids must survive", From: "zed_big",
			SenderID: ptr(9007199254740993), ChatID: ptr(-1001234567890123), MessageID: ptr(2147483647), ChatType: "supergroup",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := telegram.ParseUpdate(readSample(t, tt.file))
			must(t, err)
			equal(t, "update", show(got), show(tt.want))
		})
	}
}

func TestParseUpdateInvalidJSON(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ""},
		{"array", `[{"update_id":1}]`},
		{"string", `"hello"`},
		{"number", `42`},
		{"null", `null`},
		{"two objects", `{"update_id":1} {"update_id":2}`},
		{"trailing garbage", `{"update_id":1} x`},
		{"form body", `update_id=1&text=hi`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := telegram.ParseUpdate([]byte(tt.body))
			errorIs(t, err, telegram.ErrInvalidJSON)
		})
	}
	t.Run("malformed.json", func(t *testing.T) {
		_, err := telegram.ParseUpdate(readSample(t, "malformed.json"))
		errorIs(t, err, telegram.ErrInvalidJSON)
	})
}

func TestParseUpdateEdgeCases(t *testing.T) {
	tests := []struct {
		name, body string
		want       telegram.Update
	}{
		{"no usable kind", `{"update_id":5,"my_chat_member":{"chat":{"id":1}}}`,
			telegram.Update{UpdateID: 5, From: "unknown"}},
		{"empty object", `{}`, telegram.Update{From: "unknown"}},
		{"no from", `{"update_id":6,"message":{"message_id":1,"chat":{"id":-100,"type":"channel"},"text":"post"}}`,
			telegram.Update{UpdateID: 6, Kind: "message", Content: "post", From: "unknown", ChatID: ptr(-100), MessageID: ptr(1), ChatType: "channel"}},
		{"empty username falls back", `{"update_id":7,"message":{"from":{"id":3,"username":"","first_name":"Eve"},"chat":{"id":3},"text":"x"}}`,
			telegram.Update{UpdateID: 7, Kind: "message", Content: "x", From: "Eve", SenderID: ptr(3), ChatID: ptr(3)}},
		{"nameless sender", `{"update_id":8,"message":{"from":{"id":4},"chat":{"id":4},"text":"x"}}`,
			telegram.Update{UpdateID: 8, Kind: "message", Content: "x", From: "unknown", SenderID: ptr(4), ChatID: ptr(4)}},
		{"ids of the wrong type are absent", `{"update_id":"9","message":{"message_id":1.5,"from":{"id":"4","username":"u"},"chat":{"id":1e3},"text":7}}`,
			telegram.Update{Kind: "message", From: "u"}},
		{"null message falls back to edited_message", `{"update_id":10,"message":null,"edited_message":{"from":{"id":1,"username":"u"},"chat":{"id":1,"type":"private"},"edit_date":1,"text":"e"}}`,
			telegram.Update{UpdateID: 10, Kind: "edited_message", Content: "e", From: "u", SenderID: ptr(1), ChatID: ptr(1), ChatType: "private", Edited: true}},
		{"message wins over callback_query", `{"update_id":11,"message":{"chat":{"id":1},"text":"m"},"callback_query":{"id":"q","data":"d"}}`,
			telegram.Update{UpdateID: 11, Kind: "message", Content: "m", From: "unknown", ChatID: ptr(1)}},
		{"edit_date on a message", `{"update_id":12,"message":{"chat":{"id":1},"edit_date":5,"text":"m"}}`,
			telegram.Update{UpdateID: 12, Kind: "message", Content: "m", From: "unknown", ChatID: ptr(1), Edited: true}},
		{"callback without message or data", `{"update_id":13,"callback_query":{"id":"77","from":{"id":2,"first_name":"Fay"},"inline_message_id":"AAA"}}`,
			telegram.Update{UpdateID: 13, Kind: "callback_query", From: "Fay", SenderID: ptr(2), CallbackQueryID: "77"}},
		{"escapes and unicode", `{"update_id":14,"message":{"chat":{"id":1},"text":"caf\u00e9 \ud83d\ude00 \"q\""}}`,
			telegram.Update{UpdateID: 14, Kind: "message", Content: "café 😀 \"q\"", From: "unknown", ChatID: ptr(1)}},
		{"largest ids", `{"update_id":9223372036854775807,"message":{"from":{"id":-9223372036854775808},"chat":{"id":9223372036854775807},"text":"x"}}`,
			telegram.Update{UpdateID: 9223372036854775807, Kind: "message", Content: "x", From: "unknown", SenderID: ptr(-9223372036854775808), ChatID: ptr(9223372036854775807)}},
		{"id beyond int64 is absent", `{"update_id":1,"message":{"from":{"id":9223372036854775808},"chat":{"id":1},"text":"x"}}`,
			telegram.Update{UpdateID: 1, Kind: "message", Content: "x", From: "unknown", ChatID: ptr(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := telegram.ParseUpdate([]byte(tt.body))
			must(t, err)
			equal(t, "update", show(got), show(tt.want))
		})
	}
}
