package main

import (
	"strings"
	"testing"
	"time"
)

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8787", true},
		{"http://127.3.2.1:80", true},
		{"http://localhost:8787", true},
		{"http://[::1]:8787", true},
		{"https://127.0.0.1", true},
		{"http://10.0.0.1:8787", false},
		{"http://192.168.1.2", false},
		{"http://example.com", false},
		{"http://0.0.0.0:8787", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8787", false},
	}
	for _, tt := range tests {
		err := checkLoopbackURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"-start", "/bin/relay", "-scenarios", "ingest, e2e", "-duration", "3s", "-runs", "3"}, &strings.Builder{})
	must(t, err)
	equal(t, strings.Join(c.Scenarios, ","), "ingest,e2e")
	equal(t, c.Duration, 3*time.Second)
	equal(t, c.Runs, 3)
	equal(t, c.Concurrency, 64)
	equal(t, strings.Join(c.Stores, ","), "bolt")

	c, err = parseConfig([]string{"-start", "x", "-store", "bolt,cluster,bolt", "-nodes", "3", "-scenarios", "e2e,failover"}, &strings.Builder{})
	must(t, err)
	equal(t, strings.Join(c.Stores, ","), "bolt,cluster")
	equal(t, c.Nodes, 3)

	bad := [][]string{
		{}, // neither -url nor -start
		{"-url", "http://127.0.0.1:1", "-start", "x"}, // both
		{"-url", "http://10.1.2.3:8787"},              // not loopback
		{"-start", "x", "-scenarios", "nope"},         // unknown scenario
		{"-start", "x", "-runs", "0"},
		{"-start", "x", "-duration", "0s"},
		{"-start", "x", "extra"},
		{"-start", "x", "-store", "sqlite"},
		{"-url", "http://127.0.0.1:1", "-store", "nats"}, // only a started relay has a known store
		{"-start", "x", "-scenarios", "failover"},        // on bolt
		{"-start", "x", "-scenarios", "failover", "-store", "cluster", "-nodes", "1"},
		{"-start", "x", "-nodes", "0"},
	}
	for _, args := range bad {
		if _, err := parseConfig(args, &strings.Builder{}); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\trelay\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	n, err := parseVmRSS(status)
	must(t, err)
	equal(t, n, int64(12345*1024))
	if _, err := parseVmRSS("Name:\trelay\n"); err == nil {
		t.Error("no VmRSS: no error")
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 2.4576e+07\n" +
		"process_resident_memory_bytes_x 1\ngo_memstats_heap_inuse_bytes 1.2e+06\n"
	v, err := parseMetrics(strings.NewReader(text), "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes")
	must(t, err)
	equal(t, len(v), 2)
	equal(t, v[0], 1.2e6)
	equal(t, v[1], 24576000.0)
	if _, err := parseMetrics(strings.NewReader(text), "process_resident_memory_bytes", "go_goroutines"); err == nil {
		t.Error("one metric missing: no error")
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines x\n"), "go_goroutines"); err == nil {
		t.Error("not a number: no error")
	}
}

func TestFindListener(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A2B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A2B3 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
`
	equal(t, findListener(table, map[string]bool{"222": true}), "127.0.0.1:41651")
	equal(t, findListener(table, map[string]bool{"333": true}), "") // established, not listening
	equal(t, findListener(table, map[string]bool{"999": true}), "")

	v6, err := parseProcAddr("00000000000000000000000001000000:1F90")
	must(t, err)
	equal(t, v6, "[::1]:8080")
}

func TestSeqBody(t *testing.T) {
	for _, seq := range []int64{0, 7, 1 << 40} {
		got, ok := parseSeq(string(seqBody(seq)))
		equal(t, ok, true)
		equal(t, got, seq)
	}
	if _, ok := parseSeq(`{"text":"someone else's webhook"}`); ok {
		t.Error("foreign content parsed")
	}
	if _, ok := parseSeq(`not json`); ok {
		t.Error("non-JSON content parsed")
	}
	for _, content := range []string{`{"relaybench":}`, `{"relaybench":"7"}`, `{"relaybench":7,"x":1}`, `{"relaybench":7`} {
		if _, ok := parseSeq(content); ok {
			t.Errorf("%s parsed", content)
		}
	}
}

func TestSocketsPerUser(t *testing.T) {
	cfg := config{Sockets: 100, Idle: 10000, Users: 100}
	equal(t, socketsPerUser("fanout", cfg), 100)
	equal(t, socketsPerUser("idle", cfg), 100)
	equal(t, socketsPerUser("e2e", cfg), defaultWSCap)
	cfg.Idle = 30
	equal(t, socketsPerUser("idle", cfg), defaultWSCap)
}

func TestParseCPU(t *testing.T) {
	busy, err := parseProcStatBusy("cpu  100 20 30 5000 40 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	must(t, err)
	equal(t, busy, 1.58) // (100+20+30+8) / 100
	s, err := parsePidStatCPU("4242 (relay (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3")
	must(t, err)
	equal(t, s, 3.0) // (250+50) / 100
	if _, err := parsePidStatCPU("garbage"); err == nil {
		t.Error("garbage: no error")
	}
}

func TestRebase(t *testing.T) {
	got, err := rebase("http://127.0.0.1:8781/webhook/ch_1?token=abc", "http://127.0.0.1:8782")
	must(t, err)
	equal(t, got, "http://127.0.0.1:8782/webhook/ch_1?token=abc")
}

func TestSocketNode(t *testing.T) {
	equal(t, socketNode(5, 1), 0)
	for i := range 4 {
		equal(t, socketNode(i, 2), 1) // node 1 takes the webhooks
	}
	equal(t, socketNode(0, 3), 1)
	equal(t, socketNode(1, 3), 2)
	equal(t, socketNode(2, 3), 1)
}
