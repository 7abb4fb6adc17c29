package admin

import (
	"strconv"
	"time"
)

// clusterView is the dashboard's Cluster panel and tile, on a relay of
// several nodes. The dashboard script draws the same from the status JSON
// (renderCluster): keep the two in step.
type clusterView struct {
	Sockets int    // open on every node
	Summary string // "2 nodes · 7 sockets in all"
	TileSub string // "sockets on 2 nodes"
	Nodes   []nodeView
}

// nodeView is a node's card.
type nodeView struct {
	ID, Version, Addr string
	Self              bool
	Uptime            string // "2 h 5 min"
	Sockets           string // "3 sockets"
	LastBeat          string // when, in the protocol's form (the title)
	BeatAge           string // "1.5 s ago"
	Leases            []leaseView
}

// leaseView is what a node holds, readable: "gateway @bot", "sweep", "2
// outbox channels", "lease janitor"; Title says more.
type leaseView struct {
	Text, Title string
}

// clusterPanel is the view of the status's cluster member; nil when the
// relay is a single one.
func clusterPanel(c *clusterJSON) *clusterView {
	if c == nil {
		return nil
	}
	v := &clusterView{
		Sockets: c.WebSockets,
		Summary: plural(len(c.Nodes), "node") + " · " + plural(c.WebSockets, "socket") + " in all",
		TileSub: "sockets on " + plural(len(c.Nodes), "node"),
	}
	for _, n := range c.Nodes {
		v.Nodes = append(v.Nodes, nodeCard(n))
	}
	return v
}

func nodeCard(n nodeJSON) nodeView {
	v := nodeView{ID: n.ID, Version: n.Version, Addr: n.Addr, Self: n.Self,
		Uptime: uptimeText(n.Uptime), Sockets: plural(n.Sockets, "socket"),
		LastBeat: n.LastBeat, BeatAge: beatAgeText(n.BeatAgeMs)}
	for _, g := range n.Gateways {
		v.Leases = append(v.Leases, gatewayLease(g))
	}
	if n.Sweep {
		v.Leases = append(v.Leases, leaseView{Text: "sweep", Title: "runs the retention sweep"})
	}
	if n.Outboxes > 0 {
		v.Leases = append(v.Leases, leaseView{Text: plural(n.Outboxes, "outbox channel"), Title: "delivers the replies of these channels"})
	}
	for _, l := range n.Other {
		v.Leases = append(v.Leases, leaseView{Text: "lease " + l, Title: l})
	}
	return v
}

// gatewayLease is a platform session a node holds: "gateway @bot", or the
// channel's id when the platform shows no label.
func gatewayLease(g gatewayJSON) leaseView {
	label := g.Label
	if label == "" {
		label = shortID(g.ChannelID)
	}
	return leaseView{Text: "gateway " + label, Title: g.ChannelType + " channel " + g.ChannelID}
}

// uptimeText is a node's uptime: "45 s", "12 min", "5 h 3 min", "3 d 4 h".
// The dashboard script's uptimeText does the same: keep the two in step.
func uptimeText(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	i := func(d time.Duration) string { return strconv.FormatInt(int64(d), 10) }
	switch {
	case d < time.Minute:
		return i(d/time.Second) + " s"
	case d < time.Hour:
		return i(d/time.Minute) + " min"
	case d < 48*time.Hour:
		return i(d/time.Hour) + " h " + i(d%time.Hour/time.Minute) + " min"
	}
	return i(d/(24*time.Hour)) + " d " + i(d%(24*time.Hour)/time.Hour) + " h"
}

// beatAgeText is how long ago a node's last heartbeat was: "1.5 s ago"
// (tenths, rounded down) under a minute, then as ago says it. The dashboard
// script's beatAgeText does the same: keep the two in step.
func beatAgeText(ms int64) string {
	if ms < 60_000 {
		return strconv.FormatInt(ms/1000, 10) + "." + strconv.FormatInt(ms%1000/100, 10) + " s ago"
	}
	return ago(time.Time{}, time.Time{}.Add(time.Duration(ms)*time.Millisecond))
}
