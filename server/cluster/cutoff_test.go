package cluster

import (
	"slices"
	"testing"
	"time"
)

func TestCutOff(t *testing.T) {
	t.Parallel()
	srv, a, b := twoNodes(t)
	a.SocketOpened("u1", "c1", time.Now())
	eventually(t, 5*time.Second, "b sees a's socket", func() bool { return len(b.SocketNodes("u1")) == 1 })

	const after = 300 * time.Millisecond
	cut, rejoined := make(chan time.Time, 1), make(chan time.Time, 1)
	a.OnCutOff(after, func() { cut <- time.Now() }, func() { rejoined <- time.Now() })

	stopped := time.Now() // the clients may see the shutdown before Stop returns
	srv.Stop()
	at := receive(t, cut, 5*time.Second, "cut")
	if d := at.Sub(stopped); d < after {
		t.Fatalf("cut after %s, before %s", d, after)
	}
	equal(t, "others while cut off, as last known", a.Others(), 1)
	select {
	case <-rejoined:
		t.Fatal("rejoined while cut off")
	default:
	}

	// Back after the heartbeats and the sockets expired or could have
	// been swept: both are written again at once.
	_ = sleep(t.Context(), testDeadAfter) // the length of the outage
	srv.Restart()
	receive(t, rejoined, 10*time.Second, "rejoined")
	eventually(t, 5*time.Second, "b sees a again", func() bool {
		return slices.ContainsFunc(b.Nodes(), func(n Node) bool { return n.ID == a.ID() && n.Beat.After(stopped) })
	})
	must(t, b.kv.sockets.Purge(t.Context(), socketKey("u1", a.ID(), "c1"))) // as a janitor would have
	srv.Stop()
	receive(t, cut, 5*time.Second, "cut again")
	srv.Restart()
	receive(t, rejoined, 10*time.Second, "rejoined again")
	eventually(t, 5*time.Second, "a's socket back", func() bool { return len(b.SocketNodes("u1")) == 1 })
}
