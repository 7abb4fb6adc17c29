package channels_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/storage"
)

// TestBadges: what the dashboard shows of each platform's channels.
func TestBadges(t *testing.T) {
	dc := discord.New(discord.Config{}, nil) // no gateway: every channel's session is "off"
	mail := email.New(email.Config{}, nil)
	for _, tc := range []struct {
		name   string
		d      channels.Describer
		typ    string
		meta   string
		label  string
		detail string
	}{
		{"bot locked", dc, storage.TypeDiscord, `{"botUsername":"b"}`, "@b", "locked|gateway off"},
		{"bot one user", dc, storage.TypeDiscord, `{"allowedUsers":["1"]}`, "", "1 user|gateway off"},
		{"bot pairing", dc, storage.TypeDiscord, `{"botUsername":"b","pairingCode":"X","allowedUsers":["1"]}`, "@b", "awaiting pairing|gateway off"},
		{"email open", mail, storage.TypeEmail, `{"inboundAddress":"a@b","verified":false,"allowedSenders":[]}`, "a@b", "unverified|all senders"},
		{"email two senders", mail, storage.TypeEmail, `{"verified":true,"allowedSenders":["x","y"]}`, "", "verified|2 senders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label, details := tc.d.Badge(storage.Channel{ID: "c", Type: tc.typ, Metadata: json.RawMessage(tc.meta)})
			if label != tc.label || strings.Join(details, "|") != tc.detail {
				t.Fatalf("badge %q %q, want %q %q", label, details, tc.label, tc.detail)
			}
		})
	}
}
