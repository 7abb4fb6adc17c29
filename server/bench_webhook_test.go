package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage/seal"
)

// BenchmarkWebhookIngest is the relay's whole cost of one durable webhook,
// in process (no sockets, no load generator), from 64 concurrent senders.
func BenchmarkWebhookIngest(b *testing.B) {
	key, _ := seal.GenerateRootKey()
	cfg := app.DefaultConfig()
	cfg.Store.DataDir = b.TempDir()
	cfg.Port = 0
	cfg.RateLimits.Disabled = true
	cfg.MaxBacklogPerUser = 1 << 30 // one user takes every message
	ctx, cancel := context.WithCancel(bg)
	rl, err := app.New(ctx, cfg, app.Options{RootKey: key, Version: "bench",
		Log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := rl.Handler()
	do := func(method, target, token string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var reg struct{ APIKey string }
	decodeRec(b, do(http.MethodPost, "/auth/register", "", nil), &reg)
	var ch struct{ WebhookURL string }
	decodeRec(b, do(http.MethodPost, "/channels", reg.APIKey, []byte(`{}`)), &ch)
	target := ch.WebhookURL[strings.Index(ch.WebhookURL, "/webhook/"):]
	body := []byte(`{"action":"opened","issue":{"number":42,"title":"Crash on start","user":{"login":"octocat"}}}`)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := do(http.MethodPost, target, "", body); rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

func decodeRec(b *testing.B, rec *httptest.ResponseRecorder, v any) {
	b.Helper()
	if err := jsonUnmarshal(rec.Body.Bytes(), v); err != nil {
		b.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
