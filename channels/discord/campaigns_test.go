package discord_test

import (
	"maps"
	"testing"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/storage"
)

// A bot's gateway session runs for its newest channel, under the bot's
// lease; a channel without a bot user id has none.
func TestSessionLeases(t *testing.T) {
	a := discord.New(discord.Config{}, nil)
	bot := func(id string) map[string]string { return map[string]string{"botUserId": id} }
	got := a.SessionLeases([]storage.Channel{
		{ID: "old", Seq: 1, Platform: bot("111")},
		{ID: "new", Seq: 3, Platform: bot("111")},
		{ID: "other", Seq: 2, Platform: bot("222")},
		{ID: "forwarded-only", Seq: 4},
	})
	want := map[string]string{discord.LeaseName("111"): "new", discord.LeaseName("222"): "other"}
	if !maps.Equal(got, want) {
		t.Fatalf("SessionLeases = %v, want %v", got, want)
	}
	if got := a.SessionLeases(nil); len(got) != 0 {
		t.Fatalf("no channels: %v", got)
	}
}
