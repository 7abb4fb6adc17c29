package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
)

// configNotes are things run() should log after the logger exists.
type configNotes struct {
	Dump                 bool // --config-dump given: print the redacted config and exit 0
	Version              bool // --version given: print the version and exit 0
	IgnoredEncryptionKey bool // CHAOS_ENCRYPTION_KEY is set (logged as a warning: it is not used)
}

// redacted replaces a secret's value in dumpConfig.
const redacted = "[redacted]"

// loadConfig builds the effective configuration from command-line flags and the environment (PROTOCOL §10.3).
// args are the arguments after the subcommand. getenv is os.Getenv in production; readFile is os.ReadFile.
// Errors name the variable or flag (e.g. `RELAY_PORT: invalid value "abc": ...`); the caller exits with status 2.
// -h and --help return flag.ErrHelp: the caller prints usage.
//
// Per setting, the first of these wins: the flag (or, for a secret, --<flag>-file), the RELAY_ variable
// (or, for a secret, RELAY_<NAME>_FILE), the original relay's variable, the default. Empty
// variables count as unset. Flags and RELAY_ variables are parsed strictly; the original's variables as
// leniently as the original did, so an existing deployment keeps starting. _FILE applies to the
// RELAY_ names only: the original had no _FILE variables, so RESEND_API_KEY_FILE is not read.
func loadConfig(args []string, getenv func(string) string, readFile func(string) ([]byte, error)) (app.Config, configNotes, error) {
	var notes configNotes
	table := settings()

	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as values; the caller prints usage
	fs.Usage = func() {}
	for _, s := range table {
		fs.String(s.flagName(), "", s.help)
		if s.secret {
			fs.String(s.flagName()+"-file", "", "file holding "+s.name)
		}
	}
	fs.BoolVar(&notes.Dump, "config-dump", false, "print the effective configuration, secrets redacted, and exit")
	fs.BoolVar(&notes.Version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, notes, err
	}
	if fs.NArg() > 0 {
		return app.Config{}, notes, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	flags := make(map[string]string) // flags given on the command line, even with an empty value
	fs.Visit(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })

	src := configSource{flags: flags, getenv: getenv, readFile: readFile}
	cfg := app.DefaultConfig()
	var errs []error
	labels := map[string]string{} // variable → the flag or variable its value came from
	for _, s := range table {
		label, err := src.apply(&cfg, s)
		if err != nil {
			errs = append(errs, err)
		}
		labels[s.name] = label
	}
	notes.IgnoredEncryptionKey = getenv("CHAOS_ENCRYPTION_KEY") != ""
	if err := errors.Join(errs...); err != nil {
		return app.Config{}, notes, err
	}
	if err := cfg.Validate(); err != nil {
		return app.Config{}, notes, relabel(err, labels)
	}
	return cfg, notes, nil
}

// dumpConfig writes the effective configuration as "RELAY_NAME=value" lines, one per variable in the
// table's order, with every secret shown as "[redacted]" when set and "" when unset.
func dumpConfig(w io.Writer, c app.Config) {
	for _, s := range settings() {
		v := s.get(c)
		switch {
		case s.secret && v != "":
			v = redacted
		case s.show != nil:
			v = s.show(v)
		}
		fmt.Fprintf(w, "%s=%s\n", s.name, v)
	}
}

// usage lists the commands and every flag with its variables and default.
func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: relay [serve | rotate-root-key | version] [flags]

Each flag can also be set by the environment variable shown. The flag wins, then the RELAY_
variable, then the original relay's variable (in parentheses), then the default. Secrets (†)
also accept RELAY_<NAME>_FILE or --<flag>-file: a file holding the value.

`)
	defaults := app.DefaultConfig()
	for _, s := range settings() {
		vars := s.name
		if s.fallback != "" {
			vars += " (" + s.fallback + ")"
		}
		if s.secret {
			vars += " †"
		}
		def := s.get(defaults)
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  --%s %s  %s\n        %s (default: %s)\n", s.flagName(), s.kind, vars, s.help, def)
	}
	fmt.Fprint(w, "  --config-dump\n        print the effective configuration, secrets redacted, and exit\n")
}

// setting is one row of the PROTOCOL §10.3 table.
type setting struct {
	name     string                              // RELAY_ variable; the flag name derives from it
	fallback string                              // the original relay's variable; "" if none
	secret   bool                                // † in the table: accepts _FILE, redacted by dumpConfig
	kind     string                              // value syntax, for usage
	help     string                              // meaning, for usage
	set      func(c *app.Config, v string) error // strict parse, for flags and RELAY_ variables
	lenient  func(c *app.Config, v string)       // parse of the fallback variable; never fails
	get      func(c app.Config) string           // the value in the syntax set accepts
	show     func(v string) string               // what --config-dump prints of a value that may hold a password; nil: v
}

// flagName is the variable without RELAY_, lower-cased, with _ replaced by - (RELAY_DATA_DIR → data-dir).
func (s setting) flagName() string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.name, "RELAY_")), "_", "-")
}

// settings returns the table of PROTOCOL §10.3, in its order.
func settings() []setting {
	type cfg = app.Config
	return []setting{
		stringSetting("RELAY_HOST", "listen address; 0.0.0.0 or :: listens on all interfaces", func(c *cfg) *string { return &c.Host }),
		intSetting("RELAY_PORT", "listen port", func(c *cfg) *int { return &c.Port }).
			withFallback("PORT", lenientInt(func(c *cfg) *int { return &c.Port }, 1, 65535)),
		stringSetting("RELAY_DATA_DIR", "directory for relay.db and root.key", func(c *cfg) *string { return &c.Store.DataDir }),
		{
			name: "RELAY_NATS_URL", kind: "urls", help: "comma-separated NATS URLs (nats://, tls://); set: records live in JetStream, not relay.db",
			set:  func(c *cfg, v string) error { c.Store.NATS.URL = v; return nil },
			get:  func(c cfg) string { return c.Store.NATS.URL },
			show: app.RedactURLs,
		},
		secretSetting("RELAY_NATS_CREDS", "contents of a NATS .creds file (use RELAY_NATS_CREDS_FILE for a path)", func(c *cfg) *string { return &c.Store.NATS.Creds }),
		intSetting("RELAY_NATS_REPLICAS", "replicas of every stream and bucket (3 on a three-server cluster)", func(c *cfg) *int { return &c.Store.NATS.Replicas }),
		durationSetting("RELAY_NATS_WRITE_TIMEOUT", "how long a write is held and retried while JetStream elects a stream leader, before it answers 503", func(c *cfg) *time.Duration { return &c.Store.NATS.WriteTimeout }),
		stringSetting("RELAY_NATS_PREFIX", "names of the relay's streams and buckets", func(c *cfg) *string { return &c.Store.NATS.Prefix }),
		{
			name: "RELAY_BASE_URL", kind: "url", help: "public origin without a path, e.g. https://relay.example.com",
			set: func(c *cfg, v string) error { c.BaseURL = strings.TrimRight(v, "/"); return nil },
			get: func(c cfg) string { return c.BaseURL },
		},
		{
			name: "RELAY_TRUSTED_PROXIES", kind: "list", help: "comma-separated IPs and CIDRs whose forwarding headers are believed",
			set: func(c *cfg, v string) (err error) { c.TrustedProxies, err = parsePrefixes(v); return err },
			get: func(c cfg) string { return joinStrings(c.TrustedProxies) },
		},
		intSetting("RELAY_MAX_BODY_BYTES", "request body limit in bytes", func(c *cfg) *int64 { return &c.MaxBodyBytes }),
		durationSetting("RELAY_SHUTDOWN_TIMEOUT", "grace period on SIGINT/SIGTERM", func(c *cfg) *time.Duration { return &c.ShutdownTimeout }),
		rootKeySetting("RELAY_ROOT_KEY", "base64 of 32 bytes; unset: generated into <data dir>/root.key", func(c *cfg) *string { return &c.Store.RootKey }),
		rootKeySetting("RELAY_NEW_ROOT_KEY", "new root key, read only by rotate-root-key; unset: generated", func(c *cfg) *string { return &c.Store.NewRootKey }),
		secretSetting("RELAY_ADMIN_KEY", "admin password; unset: admin disabled", func(c *cfg) *string { return &c.AdminKey }).
			withFallback("CHAOS_ADMIN_KEY", nil),
		stringSetting("RELAY_EMAIL_DOMAIN", "domain of inbound addresses; unset: email disabled", func(c *cfg) *string { return &c.Email.Domain }).
			withFallback("CHAOS_EMAIL_DOMAIN", nil),
		secretSetting("RELAY_RESEND_API_KEY", "Resend API key", func(c *cfg) *string { return &c.Email.APIKey }).
			withFallback("RESEND_API_KEY", nil),
		secretSetting("RELAY_RESEND_WEBHOOK_SECRET", "Svix signing secret whsec_…; unset: inbound mail answers 503", func(c *cfg) *string { return &c.Email.WebhookSecret }).
			withFallback("RESEND_WEBHOOK_SECRET", nil),
		intSetting("RELAY_WS_MAX_CONN_PER_USER", "per-user WebSocket cap", func(c *cfg) *int { return &c.WS.MaxConnPerUser }).
			withFallback("WS_MAX_CONN_PER_USER", lenientInt(func(c *cfg) *int { return &c.WS.MaxConnPerUser }, 1, 1<<31-1)),
		durationSetting("RELAY_WS_PING_INTERVAL", "protocol ping period", func(c *cfg) *time.Duration { return &c.WS.PingInterval }),
		durationSetting("RELAY_WS_PONG_TIMEOUT", "silence before a connection is dropped", func(c *cfg) *time.Duration { return &c.WS.PongTimeout }),
		intSetting("RELAY_WS_SEND_QUEUE", "messages, and separately other frames, waiting per connection before 1013", func(c *cfg) *int { return &c.WS.SendQueue }),
		durationSetting("RELAY_WS_WRITE_TIMEOUT", "single-frame write deadline", func(c *cfg) *time.Duration { return &c.WS.WriteTimeout }),
		intSetting("RELAY_WS_MAX_FRAME_BYTES", "read limit for client frames", func(c *cfg) *int64 { return &c.WS.MaxFrameBytes }),
		durationSetting("RELAY_WS_REPLAY_WINDOW", "replay window when since is absent", func(c *cfg) *time.Duration { return &c.WS.ReplayWindow }),
		{
			name: "RELAY_MCP", kind: "on|off", help: "off: every /mcp path answers 404 (the MCP bridge is disabled)",
			set: func(c *cfg, v string) (err error) { c.MCP.Enabled, err = parseOnOff(v); return err },
			get: func(c cfg) string { return formatOnOff(c.MCP.Enabled) },
		},
		{
			name: "RELAY_MCP_ALLOWED_ORIGINS", kind: "list", help: "comma-separated origins (scheme://host[:port]) accepted in Origin on /mcp; unset: any",
			set: func(c *cfg, v string) error { c.MCP.AllowedOrigins = parseList(v); return nil },
			get: func(c cfg) string { return strings.Join(c.MCP.AllowedOrigins, ",") },
		},
		durationSetting("RELAY_MCP_REQUEST_TIMEOUT", "wait for an extension's mcp-response (1s-10m)", func(c *cfg) *time.Duration { return &c.MCP.RequestTimeout }),
		durationSetting("RELAY_MCP_DISCONNECT_GRACE", "wait once the extension has no socket left", func(c *cfg) *time.Duration { return &c.MCP.DisconnectGrace }),
		intSetting("RELAY_MCP_MAX_INFLIGHT", "forwarded MCP requests in flight per user", func(c *cfg) *int { return &c.MCP.MaxInflight }),
		intSetting("RELAY_MCP_MAX_RESPONSE_BYTES", "largest mcp-response frame, read while a request is pending", func(c *cfg) *int64 { return &c.MCP.MaxResponseBytes }),
		durationSetting("RELAY_MCP_SESSION_TTL", "idle MCP session lifetime", func(c *cfg) *time.Duration { return &c.MCP.SessionTTL }),
		intSetting("RELAY_MCP_MAX_SESSIONS_PER_USER", "live MCP sessions per user; the least recently used is evicted beyond", func(c *cfg) *int { return &c.MCP.MaxSessionsPerUser }),
		durationSetting("RELAY_RETENTION", "message and response retention", func(c *cfg) *time.Duration { return &c.Retention }),
		durationSetting("RELAY_MAX_RETENTION", "the longest retention a channel may set", func(c *cfg) *time.Duration { return &c.MaxRetention }),
		durationSetting("RELAY_SWEEP_INTERVAL", "retention sweep period", func(c *cfg) *time.Duration { return &c.SweepInterval }),
		intSetting("RELAY_MAX_BACKLOG_PER_USER", "stored-message cap per user", func(c *cfg) *int { return &c.MaxBacklogPerUser }),
		{
			name: "RELAY_RATE_LIMITS", kind: "on|off", help: "off disables all rate limits (benchmarks and tests only)",
			set: func(c *cfg, v string) error {
				on, err := parseOnOff(v)
				if err != nil {
					return err
				}
				c.RateLimits.Disabled = !on
				return nil
			},
			get: func(c cfg) string { return formatOnOff(!c.RateLimits.Disabled) },
		},
		rateSetting("RELAY_RATE_REGISTER", "POST /auth/register, per client IP", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.Register }),
		rateSetting("RELAY_RATE_MESSAGES", "GET /messages, per user", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.Messages }),
		rateSetting("RELAY_RATE_REPLY", "POST /reply and WebSocket reply, per user", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.Reply }),
		rateSetting("RELAY_RATE_WEBHOOK", "inbound webhooks, per channel", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.Webhook }),
		rateSetting("RELAY_RATE_EMAIL_INBOUND", "POST /email/inbound, global", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.EmailInbound }),
		rateSetting("RELAY_RATE_CHANNELS", "channel creation and registration, per user", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.Channels }),
		rateSetting("RELAY_RATE_ADMIN_LOGIN", "POST /admin/login, per client IP", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.AdminLogin }),
		rateSetting("RELAY_RATE_MCP", "/mcp requests, per user", func(c *cfg) *ratelimit.Rate { return &c.RateLimits.MCP }),
		intSetting("RELAY_DELIVERY_WORKERS", "delivery concurrency", func(c *cfg) *int { return &c.Delivery.Workers }),
		intSetting("RELAY_DELIVERY_MAX_ATTEMPTS", "attempts before a delivery fails", func(c *cfg) *int { return &c.Delivery.MaxAttempts }),
		durationSetting("RELAY_DELIVERY_MAX_AGE", "age before a delivery fails", func(c *cfg) *time.Duration { return &c.Delivery.MaxAge }),
		durationSetting("RELAY_DELIVERY_MAX_BACKOFF", "retry delay cap", func(c *cfg) *time.Duration { return &c.Delivery.MaxBackoff }),
		intSetting("RELAY_STORE_BATCH_MAX_SIZE", "most writes per group commit", func(c *cfg) *int { return &c.Store.BatchMaxSize }),
		{
			name: "RELAY_LOG_LEVEL", kind: "level", help: "debug, info, warn or error",
			set: func(c *cfg, v string) error {
				if !isLogLevel(v) {
					return errors.New("want debug, info, warn or error")
				}
				c.Log.Level = v
				return nil
			},
			get: func(c cfg) string { return c.Log.Level },
			// The original treated an unknown level as info.
			fallback: "LOG_LEVEL", lenient: func(c *cfg, v string) {
				c.Log.Level = "info"
				if v := strings.ToLower(strings.TrimSpace(v)); isLogLevel(v) {
					c.Log.Level = v
				}
			},
		},
		{
			name: "RELAY_LOG_FORMAT", kind: "format", help: "text or json (pretty is accepted as text)",
			set: func(c *cfg, v string) error {
				switch v {
				case "json", "text":
					c.Log.Format = v
				case "pretty":
					c.Log.Format = "text"
				default:
					return errors.New("want text or json")
				}
				return nil
			},
			get: func(c cfg) string { return c.Log.Format },
			// The original logged JSON for "json" and text for anything else.
			fallback: "LOG_FORMAT", lenient: func(c *cfg, v string) {
				c.Log.Format = "text"
				if strings.EqualFold(strings.TrimSpace(v), "json") {
					c.Log.Format = "json"
				}
			},
		},
		secretSetting("RELAY_METRICS_TOKEN", "bearer token for /metrics; unset: public", func(c *cfg) *string { return &c.MetricsToken }),
		{
			name: "RELAY_METRICS_CHANNEL_IDS", kind: "on|off", help: "on: export relay_channel_last_inbound_timestamp_seconds, one series per channel, labelled by channel id",
			set: func(c *cfg, v string) (err error) { c.MetricsChannelIDs, err = parseOnOff(v); return err },
			get: func(c cfg) string { return formatOnOff(c.MetricsChannelIDs) },
		},
		stringSetting("RELAY_TELEGRAM_API_URL", "Telegram Bot API base", func(c *cfg) *string { return &c.Telegram.APIURL }),
		stringSetting("RELAY_DISCORD_API_URL", "Discord REST base", func(c *cfg) *string { return &c.Discord.APIURL }),
		stringSetting("RELAY_RESEND_API_URL", "Resend API base", func(c *cfg) *string { return &c.Email.APIURL }),
		{
			name: "RELAY_DISCORD_GATEWAY", kind: "on|off", help: "off: no Discord gateway sessions (interactions and forwarded payloads only)",
			set: func(c *cfg, v string) (err error) { c.Discord.Gateway, err = parseOnOff(v); return err },
			get: func(c cfg) string { return formatOnOff(c.Discord.Gateway) },
		},
		stringSetting("RELAY_DEBUG_ADDR", "address of an opt-in pprof listener, e.g. 127.0.0.1:6060; unset: none", func(c *cfg) *string { return &c.DebugAddr }),
	}
}

// withFallback adds the original relay's variable name. A nil lenient uses set and keeps the
// default when set fails: the original ignored values it could not use.
func (s setting) withFallback(name string, lenient func(c *app.Config, v string)) setting {
	s.fallback = name
	s.lenient = lenient
	if lenient == nil {
		set := s.set
		s.lenient = func(c *app.Config, v string) { _ = set(c, v) }
	}
	return s
}

// configSource finds each setting's value by precedence.
type configSource struct {
	flags    map[string]string // given on the command line
	getenv   func(string) string
	readFile func(string) ([]byte, error)
}

// apply sets s in c from the first source that has it, and leaves the default otherwise. It
// returns the flag or variable the value came from ("" for the default).
func (src configSource) apply(c *app.Config, s setting) (label string, err error) {
	v, label, ok, err := src.strict(s)
	if err != nil {
		return label, err
	}
	if ok {
		if err := s.set(c, v); err != nil {
			if s.secret { // never echo a secret
				return label, fmt.Errorf("%s: invalid value: %w", label, err)
			}
			return label, fmt.Errorf("%s: invalid value %q: %w", label, v, err)
		}
		return label, nil
	}
	if s.fallback != "" {
		if v := src.getenv(s.fallback); v != "" {
			s.lenient(c, v)
			return s.fallback, nil
		}
	}
	return "", nil
}

// relabel rewrites the errors of Validate, which name the RELAY_ variable, to
// name what the user gave instead (--port for a flag, PORT for the
// original's variable).
func relabel(err error, labels map[string]string) error {
	var leaves []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		leaves = append(leaves, err)
	}
	walk(err)
	for i, e := range leaves {
		name, rest, ok := strings.Cut(e.Error(), ": ")
		if label := labels[name]; ok && label != "" && label != name {
			leaves[i] = fmt.Errorf("%s: %s", label, rest)
		}
	}
	return errors.Join(leaves...)
}

// strict returns the value of s from the flags or the RELAY_ variables, with the name of the flag or
// variable it came from; ok is false when neither has it.
func (src configSource) strict(s setting) (v, label string, ok bool, err error) {
	flagName := s.flagName()
	env := src.getenv(s.name)
	var envFile string
	if s.secret {
		// Checked even when a flag wins: both variables set is a deployment mistake.
		envFile = src.getenv(s.name + "_FILE")
		if env != "" && envFile != "" {
			return "", "", false, fmt.Errorf("%s and %s_FILE are both set; set only one", s.name, s.name)
		}
	}

	flagValue, fromFlag := src.flags[flagName]
	var flagFile string
	fromFlagFile := false
	if s.secret {
		flagFile, fromFlagFile = src.flags[flagName+"-file"]
		if fromFlag && fromFlagFile {
			return "", "", false, fmt.Errorf("--%s and --%s-file are both given; give only one", flagName, flagName)
		}
	}
	switch {
	case fromFlag:
		return flagValue, "--" + flagName, true, nil
	case fromFlagFile:
		label := "--" + flagName + "-file"
		v, err := src.readSecret(label, flagFile)
		return v, label, err == nil, err
	case env != "":
		return env, s.name, true, nil
	case envFile != "":
		label := s.name + "_FILE"
		v, err := src.readSecret(label, envFile)
		return v, label, err == nil, err
	}
	return "", "", false, nil
}

// readSecret returns the contents of the file at path without trailing whitespace. An empty
// file is an error rather than an unset secret: it usually means a secret mount went wrong, and
// silently disabling RELAY_METRICS_TOKEN or RELAY_ADMIN_KEY would be worse than not starting.
// label is the flag or variable that named the file, for errors.
func (src configSource) readSecret(label, path string) (string, error) {
	b, err := src.readFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", label, err)
	}
	v := strings.TrimRightFunc(string(b), unicode.IsSpace)
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", label, path)
	}
	return v, nil
}

func stringSetting(name, help string, field func(*app.Config) *string) setting {
	return setting{
		name: name, kind: "string", help: help,
		set: func(c *app.Config, v string) error { *field(c) = v; return nil },
		get: func(c app.Config) string { return *field(&c) },
	}
}

func secretSetting(name, help string, field func(*app.Config) *string) setting {
	s := stringSetting(name, help, field)
	s.secret = true
	return s
}

// rootKeySetting is a secret holding a root key: standard base64 with padding of exactly 32 bytes,
// surrounding whitespace trimmed (PROTOCOL §11.3). Checking it here makes a bad key a configuration
// error (status 2) that names the variable.
func rootKeySetting(name, help string, field func(*app.Config) *string) setting {
	s := secretSetting(name, help, field)
	s.kind = "base64"
	s.set = func(c *app.Config, v string) error {
		v = strings.TrimSpace(v)
		if b, err := base64.StdEncoding.Strict().DecodeString(v); err != nil || len(b) != 32 {
			return errors.New("want standard base64 (with padding) of exactly 32 bytes")
		}
		*field(c) = v
		return nil
	}
	return s
}

func intSetting[T int | int64](name, help string, field func(*app.Config) *T) setting {
	return setting{
		name: name, kind: "int", help: help,
		set: func(c *app.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || int64(T(n)) != n {
				return errors.New("want an integer")
			}
			*field(c) = T(n)
			return nil
		},
		get: func(c app.Config) string { return strconv.FormatInt(int64(*field(&c)), 10) },
	}
}

// lenientInt parses an integer the way the original did: anything that is not a number in
// [lo, hi] is ignored and the default kept.
func lenientInt(field func(*app.Config) *int, lo, hi int) func(*app.Config, string) {
	return func(c *app.Config, v string) {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= lo && n <= hi {
			*field(c) = n
		}
	}
}

func durationSetting(name, help string, field func(*app.Config) *time.Duration) setting {
	return setting{
		name: name, kind: "duration", help: help,
		set: func(c *app.Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return errors.New("want a duration such as 90s, 10m or 24h")
			}
			*field(c) = d
			return nil
		},
		get: func(c app.Config) string { return server.FormatDuration(*field(&c)) },
	}
}

func rateSetting(name, help string, field func(*app.Config) *ratelimit.Rate) setting {
	return setting{
		name: name, kind: "rate", help: help + "; count/duration, e.g. 30/1m",
		set: func(c *app.Config, v string) error {
			r, err := ratelimit.ParseRate(v)
			if err != nil {
				// apply already names the variable and quotes the value.
				msg, _ := strings.CutPrefix(err.Error(), fmt.Sprintf("ratelimit: invalid rate %q: ", v))
				return errors.New(msg)
			}
			*field(c) = r
			return nil
		},
		get: func(c app.Config) string { return field(&c).String() },
	}
}

func parseOnOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, errors.New("want on or off")
}

func formatOnOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func isLogLevel(v string) bool {
	switch v {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// parsePrefixes parses a comma-separated list of IPs and CIDRs; a bare IP becomes a /32 or /128.
// Blank entries are skipped; "" gives nil.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for e := range strings.SplitSeq(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP or CIDR", e)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP or CIDR", e)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseList splits a comma-separated list, trimming entries and skipping blank ones; "" gives nil.
func parseList(v string) []string {
	var out []string
	for e := range strings.SplitSeq(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func joinStrings[T fmt.Stringer](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}
