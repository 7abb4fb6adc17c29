package discord_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/discord/discordtest"
)

// The test vector of PROTOCOL §4.4.
const (
	vectorKey = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	vectorTS  = "1795428930"
	vectorSig = "b127246eb8e4bdbe96eb8b220f9ed132d076f5ba91edc86b852a6b2bf24686b0f69b01bf5a6010192acd53b06f0c4b8493f97bc4cf5ba37812448d8801274d00"
)

func TestVerifyInteraction(t *testing.T) {
	now := time.Unix(1795428930, 0)
	body := []byte(`{"type":1}`)
	equal(t, "fake verify key", discordtest.VerifyKey(discordtest.TestSeed()), vectorKey)
	equal(t, "fake signature", discordtest.SignInteraction(discordtest.TestSeed(), vectorTS, body), vectorSig)

	tests := []struct {
		name, key, sig, ts string
		body               []byte
		now                time.Time
		ok                 bool
	}{
		{"vector", vectorKey, vectorSig, vectorTS, body, now, true},
		{"upper case", strings.ToUpper(vectorKey), strings.ToUpper(vectorSig), vectorTS, body, now, true},
		{"300 s old", vectorKey, vectorSig, vectorTS, body, now.Add(300 * time.Second), true},
		{"300 s ahead", vectorKey, vectorSig, vectorTS, body, now.Add(-300 * time.Second), true},
		{"301 s old", vectorKey, vectorSig, vectorTS, body, now.Add(301 * time.Second), false},
		{"301 s ahead", vectorKey, vectorSig, vectorTS, body, now.Add(-301 * time.Second), false},
		{"tampered body", vectorKey, vectorSig, vectorTS, []byte(`{"type":2}`), now, false},
		{"other timestamp", vectorKey, vectorSig, "1795428931", body, now, false},
		{"short key", vectorKey[:62], vectorSig, vectorTS, body, now, false},
		{"long key", vectorKey + "00", vectorSig, vectorTS, body, now, false},
		{"short signature", vectorKey, vectorSig[:126], vectorTS, body, now, false},
		{"long signature", vectorKey, vectorSig + "00", vectorTS, body, now, false},
		{"non-hex signature", vectorKey, "zz" + vectorSig[2:], vectorTS, body, now, false},
		{"empty key", "", vectorSig, vectorTS, body, now, false},
		{"signed timestamp", vectorKey, vectorSig, "+" + vectorTS, body, now, false},
		{"empty timestamp", vectorKey, vectorSig, "", body, now, false},
		{"fractional timestamp", vectorKey, vectorSig, vectorTS + ".0", body, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := discord.VerifyInteraction(tc.key, tc.sig, tc.ts, tc.body, tc.now)
			if tc.ok {
				must(t, err)
				return
			}
			errorIs(t, err, discord.ErrBadSignature)
		})
	}
	equal(t, "text", discord.ErrBadSignature.Error(), "Invalid request signature")

	// A fresh signature with the fake's helper.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	b := readSample(t, "interaction_command.json")
	must(t, discord.VerifyInteraction(vectorKey, discordtest.SignInteraction(discordtest.TestSeed(), ts, b), ts, b, time.Now()))
}

func TestParseInteraction(t *testing.T) {
	tests := []struct {
		file string
		want discord.Interaction
	}{
		{"interaction_ping.json", discord.Interaction{Type: 1, ID: "1500000000000000001"}},
		{"interaction_command.json", discord.Interaction{Type: 2, ID: "1500000000000000002", ChannelID: "1200000000000000002",
			GuildID: "1100000000000000003", UserID: "9007199254740993123", Username: "alice", CommandName: "ask",
			Content: "what is the weather?"}},
		{"interaction_command_no_options.json", discord.Interaction{Type: 2, ID: "1500000000000000003",
			ChannelID: "1200000000000000020", UserID: "1400000000000000040", Username: "bob", CommandName: "status",
			Content: "/status"}},
		{"interaction_component.json", discord.Interaction{Type: 3, ID: "1500000000000000004", ChannelID: "1200000000000000002",
			GuildID: "1100000000000000003", UserID: "9007199254740993123", Username: "alice"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := discord.ParseInteraction(readSample(t, tc.file))
			must(t, err)
			equal(t, "interaction", got, tc.want)
		})
	}
	for _, bad := range []string{"", "[]", "not json", `{"type":"x"}`, "null"} {
		_, err := discord.ParseInteraction([]byte(bad))
		errorIs(t, err, discord.ErrInvalidJSON)
	}
}

func TestInteractionReply(t *testing.T) {
	equal(t, "reply", string(discord.InteractionReply(discord.Received)),
		`{"type":4,"data":{"content":"Received. The agent will reply in this channel.","flags":64}}`)
	equal(t, "pong", discord.PongBody, `{"type":1}`)
}

func TestIsPing(t *testing.T) {
	tests := map[string]bool{
		"interaction_ping.json":     true,
		"interaction_command.json":  false,
		"message_create_guild.json": false, // op 0, no type at the top
		"forwarded_message.json":    false,
	}
	for file, want := range tests {
		equal(t, file, discord.IsPing(readSample(t, file)), want)
	}
	equal(t, "1.0", discord.IsPing([]byte(`{"type":1.0}`)), true)
	equal(t, "string", discord.IsPing([]byte(`{"type":"1"}`)), false)
	equal(t, "not object", discord.IsPing([]byte(`1`)), false)
}

func TestParseForwarded(t *testing.T) {
	tests := []struct {
		file string
		want discord.Message
	}{
		{"message_create_guild.json", discord.Message{ID: "1300000000000000001", ChannelID: "1200000000000000002",
			GuildID: "1100000000000000003", Content: "hello <@1000000000000000009> what's up?",
			AuthorID: "9007199254740993123", AuthorName: "alice"}},
		{"message_create_dm.json", discord.Message{ID: "1300000000000000010", ChannelID: "1200000000000000020",
			Content: "ABCD1234", AuthorID: "1400000000000000040", AuthorName: "bob", Edited: true, DM: true}},
		{"message_from_bot.json", discord.Message{ID: "1300000000000000011", ChannelID: "1200000000000000002",
			GuildID: "1100000000000000003", Content: "I am a bot", AuthorID: "1000000000000000009",
			AuthorName: "relaybot", Bot: true}},
		{"forwarded_message.json", discord.Message{ID: "1300000000000000012", ChannelID: "1200000000000000002",
			GuildID: "1100000000000000003", Content: "forwarded hello", AuthorID: "1400000000000000041", AuthorName: "carol"}},
		{"forwarded_d.json", discord.Message{ID: "1300000000000000013", ChannelID: "1200000000000000021",
			Content: "from a gateway bridge", AuthorID: "1400000000000000042", AuthorName: "unknown", Edited: true, DM: true}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := discord.ParseForwarded(readSample(t, tc.file))
			must(t, err)
			equal(t, "message", got, tc.want)
		})
	}
	t.Run("odd shapes", func(t *testing.T) {
		m, err := discord.ParseForwarded([]byte(`{"content":123,"id":1300000000000000099,"author":{"id":5,"username":7}}`))
		must(t, err)
		equal(t, "message", m, discord.Message{ID: "1300000000000000099", AuthorID: "5", AuthorName: "unknown", DM: true})
		m, err = discord.ParseForwarded([]byte(`{"message":"text","content":"top","edited_timestamp":0}`))
		must(t, err)
		equal(t, "content", m.Content, "top")
		equal(t, "edited", m.Edited, false)
	})
	for _, bad := range []string{"", "[]", "nope", "null", `"x"`, `{"content":`} {
		_, err := discord.ParseForwarded([]byte(bad))
		errorIs(t, err, discord.ErrInvalidJSON)
	}
}

func TestPairing(t *testing.T) {
	equal(t, "pairs", discord.IsPairing("  ABCD1234\n", "ABCD1234", "42"), true)
	equal(t, "case", discord.IsPairing("abcd1234", "ABCD1234", "42"), false)
	equal(t, "no code", discord.IsPairing("", "", "42"), false)
	equal(t, "no sender", discord.IsPairing("ABCD1234", "ABCD1234", ""), false)
	equal(t, "allowed", discord.Allowed([]string{"9007199254740993123"}, "9007199254740993123"), true)
	equal(t, "empty list", discord.Allowed(nil, "1"), false)
	equal(t, "no sender", discord.Allowed([]string{""}, ""), false)
}
