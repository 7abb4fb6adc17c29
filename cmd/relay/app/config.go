package app

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/jetstream"
)

// Config is the relay process's configuration: every RELAY_ setting
// (PROTOCOL §10.3). cmd/relay fills it from flags and the environment; tests
// start from DefaultConfig. Each part is the configuration of the component
// it configures, which owns its defaults and its checks.
type Config struct {
	server.Config // HTTP, WebSockets, reply delivery, retention

	RateLimits ratelimit.Config
	Store      StoreConfig
	Telegram   telegram.Config
	Discord    discord.Config
	Email      email.Config
	Log        LogConfig
}

// StoreConfig says where the relay keeps its records and with which key:
// in bbolt under DataDir, or in NATS JetStream when NATS.URL is set.
type StoreConfig struct {
	DataDir      string // directory of relay.db and, without RootKey, root.key
	RootKey      string `secret:"true"` // base64; "" = <DataDir>/root.key (bbolt only)
	NewRootKey   string `secret:"true"` // read only by rotate-root-key
	BatchMaxSize int    // most writes per bbolt group commit
	NATS         NATSConfig
}

// NATSConfig selects the JetStream store (storage/jetstream).
type NATSConfig struct {
	URL      string // comma-separated nats:// or tls:// URLs; "" = bbolt
	Creds    string `secret:"true"` // contents of a NATS .creds file (JWT and seed); optional
	Replicas int    // of every stream and bucket: 1, or 3 on a three-server cluster
	Prefix   string // names of the streams and buckets
	// WriteTimeout is how long a write is held and retried while JetStream
	// does not answer (a stream leader's election) before it fails with 503.
	WriteTimeout time.Duration
}

// Enabled reports whether the relay stores its records in JetStream.
func (c NATSConfig) Enabled() bool { return c.URL != "" }

// validate checks the NATS settings.
func (c NATSConfig) validate() error {
	var errs []error
	if c.Creds != "" {
		if err := jetstream.CheckCreds([]byte(c.Creds)); err != nil {
			errs = append(errs, fmt.Errorf("RELAY_NATS_CREDS: %w", err))
		}
	}
	if !c.Enabled() {
		return errors.Join(errs...)
	}
	for u := range strings.SplitSeq(c.URL, ",") {
		if p, err := url.Parse(strings.TrimSpace(u)); err != nil || p.Host == "" ||
			p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss" {
			errs = append(errs, errors.New("RELAY_NATS_URL: want comma-separated nats:// or tls:// URLs"))
			break
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("RELAY_NATS_REPLICAS: must be 1 to 5"))
	}
	if c.WriteTimeout < time.Second || c.WriteTimeout > 50*time.Second {
		errs = append(errs, errors.New("RELAY_NATS_WRITE_TIMEOUT: must be 1s to 50s"))
	}
	if !jetstream.ValidPrefix(c.Prefix) {
		errs = append(errs, errors.New("RELAY_NATS_PREFIX: must be 1 to 32 of A-Z, a-z, 0-9, _ and -"))
	}
	return errors.Join(errs...)
}

// LogConfig is the process's logging (PROTOCOL §10.4).
type LogConfig struct {
	Level  string // debug, info, warn, error
	Format string // text, json
}

// DefaultDataDir is where a relay with nothing configured keeps its data:
// beside the working directory, so that `make run` needs no setup.
const DefaultDataDir = "./data"

// DefaultConfig is the configuration of a relay with nothing configured.
func DefaultConfig() Config {
	return Config{
		Config:     server.DefaultConfig(),
		RateLimits: ratelimit.DefaultConfig(),
		Store: StoreConfig{DataDir: DefaultDataDir, BatchMaxSize: bolt.DefaultBatchMaxSize,
			NATS: NATSConfig{Replicas: 1, Prefix: jetstream.DefaultPrefix, WriteTimeout: jetstream.DefaultWriteTimeout}},
		Telegram: telegram.Config{APIURL: telegram.DefaultAPIURL},
		Discord:  discord.Config{APIURL: discord.DefaultAPIURL, Gateway: true},
		Email:    email.Config{APIURL: email.DefaultAPIURL},
		Log:      LogConfig{Level: "info", Format: "text"},
	}
}

// Validate checks every part; each error names its variable.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate(), c.RateLimits.Validate()}
	if c.Store.DataDir == "" {
		errs = append(errs, errors.New("RELAY_DATA_DIR: must not be empty"))
	}
	if c.Store.BatchMaxSize <= 0 {
		errs = append(errs, errors.New("RELAY_STORE_BATCH_MAX_SIZE: must be positive"))
	}
	errs = append(errs, c.Store.NATS.validate())
	for name, v := range map[string]string{"RELAY_TELEGRAM_API_URL": c.Telegram.APIURL, "RELAY_DISCORD_API_URL": c.Discord.APIURL,
		"RELAY_RESEND_API_URL": c.Email.APIURL} {
		if u, err := url.Parse(v); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: must be an http(s) URL", name))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, errors.New("RELAY_LOG_LEVEL: must be debug, info, warn or error"))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, errors.New("RELAY_LOG_FORMAT: must be text or json"))
	}
	return errors.Join(errs...)
}

// RedactURLs hides the passwords of comma-separated URLs, for logs and
// --config-dump.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil { // it may hold a password all the same
			parts[i] = "[unparsable]"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
