package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
)

// relayURL is the relay the examples talk to, e.g. "http://127.0.0.1:8787".
// TestMain starts one in-process.
var relayURL string

// A signed session creates a webhook channel; an external system posts to it;
// the session polls and gets the message.
func Example() {
	ctx := context.Background()

	key, err := client.GenerateKey() // without a key (nil), a legacy session: no signatures
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Register(ctx, relayURL, key, nil)
	if err != nil {
		log.Fatal(err)
	}

	ch, hook, err := c.CreateChannel(ctx, client.NewChannel{Name: "builds"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("channel:", ch.Type, ch.Direction, ch.Name)

	// What an external system does with the webhook URL (its token included).
	_, err = client.PostWebhook(ctx, nil, hook, "application/json", []byte(`{"text": "build failed"}`))
	if err != nil {
		log.Fatal(err)
	}

	page, err := c.Poll(ctx, 0) // c.Cursor now points after the page
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range page.Messages {
		fmt.Println("message:", m.ChannelType, m.From, m.Content)
	}
	fmt.Println("more waiting:", page.HasMore)
	// Output:
	// channel: webhook inbound builds
	// message: webhook webhook {"text":"build failed"}
	// more waiting: false
}

// Subscribe receives each message as it is stored, and keeps the connection up
// (reconnecting, resuming after the last message) until its context ends.
func ExampleClient_Subscribe() {
	ctx := context.Background()
	c, err := client.Register(ctx, relayURL, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, hook, err := c.CreateChannel(ctx, client.NewChannel{})
	if err != nil {
		log.Fatal(err)
	}

	sub, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(sub, func(m client.Message) error {
			fmt.Println("received:", m.Content)
			stop() // one message is enough for this example
			return nil
		})
	}()

	if _, err := client.PostWebhook(ctx, nil, hook, "text/plain", []byte("disk almost full")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Subscribe returned:", <-done)
	// Output:
	// received: disk almost full
	// Subscribe returned: context canceled
}

// An agent replies to a message. On a webhook channel the reply is stored for the
// external system, which reads it with Responses.
func ExampleClient_Reply() {
	ctx := context.Background()
	c, err := client.Register(ctx, relayURL, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	ch, hook, err := c.CreateChannel(ctx, client.NewChannel{Direction: "bidirectional"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.PostWebhook(ctx, nil, hook, "text/plain", []byte("is the deploy done?")); err != nil {
		log.Fatal(err)
	}
	page, err := c.Poll(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	m := page.Messages[0]

	_, err = c.Reply(ctx, client.Reply{
		ChannelID: m.ChannelID,
		Content:   "Yes, at 14:02.",
		ReplyTo:   m.ID,
		Metadata:  m.Metadata, // echo the inbound metadata: reply routing reads it
	})
	if err != nil {
		log.Fatal(err)
	}

	// The external system's side: public, no session needed.
	replies, err := client.Responses(ctx, nil, relayURL, ch.ID, "", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range replies.Responses {
		fmt.Println(r.From+":", r.Content)
	}
	// Output:
	// agent: Yes, at 14:02.
}

// TestMain runs the tests and examples with a relay started in-process on a
// temporary database (built by app.New, as every test relay is), and removes it
// afterwards.
func TestMain(m *testing.M) {
	url, stop, err := startRelay()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start relay:", err)
		os.Exit(1)
	}
	relayURL = url
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop relay:", err)
		code = 1
	}
	os.Exit(code)
}

// startRelay runs a relay on 127.0.0.1 and a random port, with a bolt store in
// a new temporary directory. stop shuts it down, closes the store and removes
// the directory.
func startRelay() (url string, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "relay-client-example-")
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func() error, error) {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	cfg := app.DefaultConfig()
	cfg.Store.DataDir, cfg.Port = dir, 0
	ctx, cancel := context.WithCancel(context.Background())
	rl, err := app.New(ctx, cfg, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- rl.Run(ctx) }()
	stop = func() error {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		cancel()
		return errors.Join(<-done, os.RemoveAll(dir))
	}
	return "http://" + rl.Addr().String(), stop, nil
}
