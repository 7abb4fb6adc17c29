package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		raw      bool // kept as is
	}{
		{"id", "01J9ZK3Q-user_1", true},
		{"email", "user@example.com", false},
		{"ip", "203.0.113.7", false},
		{"empty", "", false},
		{"equals", "a=b", false},
		{"long", strings.Repeat("a", maxRawToken+1), false},
	} {
		got := token(tc.in)
		if tc.raw {
			equal(t, tc.name, got, tc.in)
			continue
		}
		if !strings.HasPrefix(got, "=") || !isToken(got[1:]) || len(got) != 23 {
			t.Errorf("%s: token(%q) = %q, want = and a hash", tc.name, tc.in, got)
		}
	}
	equal(t, "lease key", leaseKey("discord.1234"), "discord.1234")
	equal(t, "lease key", leaseKey("sweep"), "sweep")
	for _, name := range []string{"outbox.", ".x", "a..b", "chan 1", "outbox.a=b"} {
		if k := leaseKey(name); !strings.HasPrefix(k, "=") {
			t.Errorf("leaseKey(%q) = %q, want a hash", name, k)
		}
	}
	if hashToken("x") == hashToken("y") || hashToken("x") != hashToken(strings.Clone("x")) {
		t.Fatal("hashes are not a function of their input")
	}
	id := newID(5)
	if len(id) != 8 || !isToken(id) || id == newID(5) {
		t.Fatalf("newID = %q", id)
	}
}

func TestOptions(t *testing.T) {
	nc := &nats.Conn{} // never used: the options are only checked
	o, err := Options{Conn: nc}.withDefaults()
	must(t, err)
	equal(t, "prefix", o.Prefix, DefaultPrefix)
	equal(t, "replicas", o.Replicas, 1)
	equal(t, "heartbeat", o.Heartbeat, DefaultHeartbeat)
	equal(t, "dead after", o.DeadAfter, DefaultDeadAfter)
	equal(t, "lease TTL", o.LeaseTTL, DefaultLeaseTTL)
	equal(t, "id", len(o.Node.ID), 8)
	if o.Node.Started.IsZero() || o.Logger == nil || o.Now == nil {
		t.Fatalf("defaults missing: %+v", o)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no conn", Options{}, "Conn is required"},
		{"prefix", Options{Conn: nc, Prefix: "a.b"}, "prefix"},
		{"replicas", Options{Conn: nc, Replicas: 7}, "replicas"},
		{"id", Options{Conn: nc, Node: Info{ID: "a b"}}, "node id"},
		{"dead after", Options{Conn: nc, Heartbeat: time.Second, DeadAfter: time.Second}, "twice"},
		{"lease TTL", Options{Conn: nc, LeaseTTL: time.Millisecond}, "too short"},
	} {
		_, err := tc.o.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
