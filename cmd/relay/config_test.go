package main

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
	"github.com/chaos-relay/relay/server/live"
)

// A valid root key (32 bytes, standard base64) and another one.
const (
	testRootKey    = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	testNewRootKey = "HxwdHhkaGxwVFhcYERITFA0ODxAJCgsMBQYHCAECAwQ="
)

// fakeEnv is a getenv reading from m.
func fakeEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// fakeFiles is a readFile reading from m; a missing path fails like os.ReadFile.
func fakeFiles(m map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		s, ok := m[path]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

// mustLoad runs loadConfig and fails the test on error.
func mustLoad(t *testing.T, args []string, env, files map[string]string) (app.Config, configNotes) {
	t.Helper()
	cfg, notes, err := loadConfig(args, fakeEnv(env), fakeFiles(files))
	if err != nil {
		t.Fatalf("loadConfig(%q): %v", args, err)
	}
	return cfg, notes
}

// mustFail runs loadConfig and returns its error, failing the test if there is none.
func mustFail(t *testing.T, args []string, env, files map[string]string) error {
	t.Helper()
	cfg, _, err := loadConfig(args, fakeEnv(env), fakeFiles(files))
	if err == nil {
		t.Fatalf("loadConfig(%q) with env %v = %+v, want an error", args, env, cfg)
	}
	return err
}

// testFlagName converts a variable to its flag the way PROTOCOL §10.3 describes it.
func testFlagName(variable string) string {
	return "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(variable, "RELAY_")), "_", "-")
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, notes := mustLoad(t, nil, nil, nil)
	if want := app.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("loadConfig with nothing set:\n got %+v\nwant %+v", cfg, want)
	}
	if notes != (configNotes{}) {
		t.Errorf("notes = %+v, want none", notes)
	}
}

func TestLoadConfigEmptyVariablesAreUnset(t *testing.T) {
	env := map[string]string{"PORT": "9000"}
	for _, s := range settings() {
		env[s.name] = ""
		env[s.name+"_FILE"] = ""
	}
	cfg, _ := mustLoad(t, nil, env, nil)
	if cfg.Port != 9000 {
		t.Errorf("Port = %d, want 9000: an empty RELAY_PORT must fall through to PORT", cfg.Port)
	}
	cfg.Port = server.DefaultPort
	if want := app.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("empty variables changed the config:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		get  func(app.Config) any
		want any
	}{
		{"port flag", []string{"--port", "1001"}, map[string]string{"RELAY_PORT": "1002", "PORT": "1003"}, port, 1001},
		{"port single-dash flag", []string{"-port=1001"}, map[string]string{"RELAY_PORT": "1002"}, port, 1001},
		{"port RELAY_", nil, map[string]string{"RELAY_PORT": "1002", "PORT": "1003"}, port, 1002},
		{"port fallback", nil, map[string]string{"PORT": "1003"}, port, 1003},
		{"port default", nil, nil, port, server.DefaultPort},

		{"admin key flag", []string{"--admin-key=f"}, map[string]string{"RELAY_ADMIN_KEY": "r", "CHAOS_ADMIN_KEY": "c"}, adminKey, "f"},
		{"admin key file flag", []string{"--admin-key-file=/k"}, map[string]string{"RELAY_ADMIN_KEY": "r"}, adminKey, "from-file"},
		{"admin key RELAY_", nil, map[string]string{"RELAY_ADMIN_KEY": "r", "CHAOS_ADMIN_KEY": "c"}, adminKey, "r"},
		{"admin key RELAY_ _FILE", nil, map[string]string{"RELAY_ADMIN_KEY_FILE": "/k", "CHAOS_ADMIN_KEY": "c"}, adminKey, "from-file"},
		{"admin key fallback", nil, map[string]string{"CHAOS_ADMIN_KEY": "c"}, adminKey, "c"},
		{"admin key default", nil, nil, adminKey, ""},

		{"log level flag", []string{"--log-level", "error"}, map[string]string{"RELAY_LOG_LEVEL": "warn", "LOG_LEVEL": "debug"}, logLevel, "error"},
		{"log level RELAY_", nil, map[string]string{"RELAY_LOG_LEVEL": "warn", "LOG_LEVEL": "debug"}, logLevel, "warn"},
		{"log level fallback", nil, map[string]string{"LOG_LEVEL": "debug"}, logLevel, "debug"},
		{"log level default", nil, nil, logLevel, "info"},

		{"ws cap flag", []string{"--ws-max-conn-per-user=7"}, map[string]string{"RELAY_WS_MAX_CONN_PER_USER": "8", "WS_MAX_CONN_PER_USER": "9"}, wsCap, 7},
		{"ws cap RELAY_", nil, map[string]string{"RELAY_WS_MAX_CONN_PER_USER": "8", "WS_MAX_CONN_PER_USER": "9"}, wsCap, 8},
		{"ws cap fallback", nil, map[string]string{"WS_MAX_CONN_PER_USER": "9"}, wsCap, 9},
		{"ws cap default", nil, nil, wsCap, live.DefaultMaxConnPerUser},

		{"data dir flag", []string{"--data-dir", "/f"}, map[string]string{"RELAY_DATA_DIR": "/r"}, dataDir, "/f"},
		{"data dir RELAY_", nil, map[string]string{"RELAY_DATA_DIR": "/r"}, dataDir, "/r"},
		{"data dir default", nil, nil, dataDir, app.DefaultDataDir},

		// An explicit flag wins even when empty: --base-url= clears RELAY_BASE_URL.
		{"empty flag clears", []string{"--base-url="}, map[string]string{"RELAY_BASE_URL": "https://x.example"}, func(c app.Config) any { return c.BaseURL }, ""},
		// A flag given twice: the last one wins, as with the flag package.
		{"last flag wins", []string{"--port=1", "--port=2"}, nil, port, 2},
	}
	files := map[string]string{"/k": "from-file\n"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustLoad(t, tt.args, tt.env, files)
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func port(c app.Config) any     { return c.Port }
func adminKey(c app.Config) any { return c.AdminKey }
func logLevel(c app.Config) any { return c.Log.Level }
func wsCap(c app.Config) any    { return c.WS.MaxConnPerUser }
func dataDir(c app.Config) any  { return c.Store.DataDir }

// variableCase sets one variable and says where its value lands.
type variableCase struct {
	name  string
	value string
	get   func(app.Config) any
	want  any
}

// testCreds is a NATS user credentials file made for these tests (its
// account exists nowhere).
const testCreds = `-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJONVNGNFdLVExRR1RIWlZHTDNFNldVSUZDNkZRSlo3SFM3VloyVFlEQlVYR09SQVNUQU1BIiwiaWF0IjoxNzk2NDc3MTQ0LCJpc3MiOiJBQklRMk1JQUlERVdGRExPVExPUERSNVIyR1BRRVdDMzNFM0VEQ1dDRUNCNlBGRTRJNE1RRjRRNyIsIm5hbWUiOiJyZWxheS10ZXN0Iiwic3ViIjoiVUFDSjNZMkVGRkhGVk9DTTdSQkVTT1g2RDNYSUYzVTNHTTdWMzdNWUhOMzNHUTRSQlNBNDM3WEoiLCJuYXRzIjp7InB1YiI6e30sInN1YiI6e30sInN1YnMiOi0xLCJkYXRhIjotMSwicGF5bG9hZCI6LTEsInR5cGUiOiJ1c2VyIiwidmVyc2lvbiI6Mn19.fmHH_aD2rnUcwO_AszEpG85bIl6_e-dfMeJQxRhPzvr3aybHAhjiFEOlOfdHJUNbBBVOVUaEOBctXZZ6qTyuDQ
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
SUALNOPONM2CADAGJ7AJQNWD7UENEONUWB63EMCNLABPYMMYUIRJZBOOFE
------END USER NKEY SEED------`

// everyVariable is the table of PROTOCOL §10.3, in its order, with a non-default value for each.
func everyVariable() []variableCase {
	return []variableCase{
		{"RELAY_HOST", "0.0.0.0", func(c app.Config) any { return c.Host }, "0.0.0.0"},
		{"RELAY_PORT", "9999", func(c app.Config) any { return c.Port }, 9999},
		{"RELAY_DATA_DIR", "/var/lib/relay", func(c app.Config) any { return c.Store.DataDir }, "/var/lib/relay"},
		{"RELAY_NATS_URL", "nats://relay:pw@10.0.0.1:4222,tls://10.0.0.2:4222", func(c app.Config) any { return c.Store.NATS.URL },
			"nats://relay:pw@10.0.0.1:4222,tls://10.0.0.2:4222"},
		{"RELAY_NATS_CREDS", testCreds, func(c app.Config) any { return c.Store.NATS.Creds }, testCreds},
		{"RELAY_NATS_REPLICAS", "3", func(c app.Config) any { return c.Store.NATS.Replicas }, 3},
		{"RELAY_NATS_WRITE_TIMEOUT", "20s", func(c app.Config) any { return c.Store.NATS.WriteTimeout }, 20 * time.Second},
		{"RELAY_NATS_PREFIX", "relay-eu", func(c app.Config) any { return c.Store.NATS.Prefix }, "relay-eu"},
		{"RELAY_BASE_URL", "https://relay.example.com/", func(c app.Config) any { return c.BaseURL }, "https://relay.example.com"},
		{"RELAY_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,2001:db8::1,fd00::/8", func(c app.Config) any { return c.TrustedProxies }, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("192.168.0.0/16"),
			netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("fd00::/8"),
		}},
		{"RELAY_MAX_BODY_BYTES", "2048", func(c app.Config) any { return c.MaxBodyBytes }, int64(2048)},
		{"RELAY_SHUTDOWN_TIMEOUT", "90s", func(c app.Config) any { return c.ShutdownTimeout }, 90 * time.Second},
		{"RELAY_ROOT_KEY", testRootKey, func(c app.Config) any { return c.Store.RootKey }, testRootKey},
		{"RELAY_NEW_ROOT_KEY", testNewRootKey, func(c app.Config) any { return c.Store.NewRootKey }, testNewRootKey},
		{"RELAY_ADMIN_KEY", "admin-pw", func(c app.Config) any { return c.AdminKey }, "admin-pw"},
		{"RELAY_EMAIL_DOMAIN", "mail.example.com", func(c app.Config) any { return c.Email.Domain }, "mail.example.com"},
		{"RELAY_RESEND_API_KEY", "re_123", func(c app.Config) any { return c.Email.APIKey }, "re_123"},
		{"RELAY_RESEND_WEBHOOK_SECRET", "whsec_abc", func(c app.Config) any { return c.Email.WebhookSecret }, "whsec_abc"},
		{"RELAY_WS_MAX_CONN_PER_USER", "11", func(c app.Config) any { return c.WS.MaxConnPerUser }, 11},
		{"RELAY_WS_PING_INTERVAL", "15s", func(c app.Config) any { return c.WS.PingInterval }, 15 * time.Second},
		{"RELAY_WS_PONG_TIMEOUT", "45s", func(c app.Config) any { return c.WS.PongTimeout }, 45 * time.Second},
		{"RELAY_WS_SEND_QUEUE", "512", func(c app.Config) any { return c.WS.SendQueue }, 512},
		{"RELAY_WS_WRITE_TIMEOUT", "3s", func(c app.Config) any { return c.WS.WriteTimeout }, 3 * time.Second},
		{"RELAY_WS_MAX_FRAME_BYTES", "131072", func(c app.Config) any { return c.WS.MaxFrameBytes }, int64(131072)},
		{"RELAY_WS_REPLAY_WINDOW", "0s", func(c app.Config) any { return c.WS.ReplayWindow }, time.Duration(0)},
		{"RELAY_MCP", "off", func(c app.Config) any { return c.MCP.Enabled }, false},
		{"RELAY_MCP_ALLOWED_ORIGINS", "https://a.example, http://localhost:3000", func(c app.Config) any { return c.MCP.AllowedOrigins },
			[]string{"https://a.example", "http://localhost:3000"}},
		{"RELAY_MCP_REQUEST_TIMEOUT", "45s", func(c app.Config) any { return c.MCP.RequestTimeout }, 45 * time.Second},
		{"RELAY_MCP_DISCONNECT_GRACE", "3s", func(c app.Config) any { return c.MCP.DisconnectGrace }, 3 * time.Second},
		{"RELAY_MCP_MAX_INFLIGHT", "4", func(c app.Config) any { return c.MCP.MaxInflight }, 4},
		{"RELAY_MCP_MAX_RESPONSE_BYTES", "1048576", func(c app.Config) any { return c.MCP.MaxResponseBytes }, int64(1048576)},
		{"RELAY_MCP_SESSION_TTL", "1h", func(c app.Config) any { return c.MCP.SessionTTL }, time.Hour},
		{"RELAY_MCP_MAX_SESSIONS_PER_USER", "8", func(c app.Config) any { return c.MCP.MaxSessionsPerUser }, 8},
		{"RELAY_RETENTION", "48h", func(c app.Config) any { return c.Retention }, 48 * time.Hour},
		{"RELAY_MAX_RETENTION", "2160h", func(c app.Config) any { return c.MaxRetention }, 2160 * time.Hour},
		{"RELAY_SWEEP_INTERVAL", "1m30s", func(c app.Config) any { return c.SweepInterval }, 90 * time.Second},
		{"RELAY_MAX_BACKLOG_PER_USER", "500", func(c app.Config) any { return c.MaxBacklogPerUser }, 500},
		{"RELAY_RATE_LIMITS", "off", func(c app.Config) any { return c.RateLimits.Disabled }, true},
		{"RELAY_RATE_REGISTER", "5/h", func(c app.Config) any { return c.RateLimits.Register }, ratelimit.Rate{N: 5, Per: time.Hour}},
		{"RELAY_RATE_MESSAGES", "6/1m", func(c app.Config) any { return c.RateLimits.Messages }, ratelimit.Rate{N: 6, Per: time.Minute}},
		{"RELAY_RATE_REPLY", "7/30s", func(c app.Config) any { return c.RateLimits.Reply }, ratelimit.Rate{N: 7, Per: 30 * time.Second}},
		{"RELAY_RATE_WEBHOOK", "8/2m", func(c app.Config) any { return c.RateLimits.Webhook }, ratelimit.Rate{N: 8, Per: 2 * time.Minute}},
		{"RELAY_RATE_EMAIL_INBOUND", "9/1h", func(c app.Config) any { return c.RateLimits.EmailInbound }, ratelimit.Rate{N: 9, Per: time.Hour}},
		{"RELAY_RATE_CHANNELS", "10/1h", func(c app.Config) any { return c.RateLimits.Channels }, ratelimit.Rate{N: 10, Per: time.Hour}},
		{"RELAY_RATE_ADMIN_LOGIN", "3/10m", func(c app.Config) any { return c.RateLimits.AdminLogin }, ratelimit.Rate{N: 3, Per: 10 * time.Minute}},
		{"RELAY_RATE_MCP", "20/1m", func(c app.Config) any { return c.RateLimits.MCP }, ratelimit.Rate{N: 20, Per: time.Minute}},
		{"RELAY_DELIVERY_WORKERS", "2", func(c app.Config) any { return c.Delivery.Workers }, 2},
		{"RELAY_DELIVERY_MAX_ATTEMPTS", "20", func(c app.Config) any { return c.Delivery.MaxAttempts }, 20},
		{"RELAY_DELIVERY_MAX_AGE", "2h", func(c app.Config) any { return c.Delivery.MaxAge }, 2 * time.Hour},
		{"RELAY_DELIVERY_MAX_BACKOFF", "1m", func(c app.Config) any { return c.Delivery.MaxBackoff }, time.Minute},
		{"RELAY_STORE_BATCH_MAX_SIZE", "16", func(c app.Config) any { return c.Store.BatchMaxSize }, 16},
		{"RELAY_LOG_LEVEL", "debug", func(c app.Config) any { return c.Log.Level }, "debug"},
		{"RELAY_LOG_FORMAT", "json", func(c app.Config) any { return c.Log.Format }, "json"},
		{"RELAY_METRICS_TOKEN", "metrics-tok", func(c app.Config) any { return c.MetricsToken }, "metrics-tok"},
		{"RELAY_METRICS_CHANNEL_IDS", "on", func(c app.Config) any { return c.MetricsChannelIDs }, true},
		{"RELAY_TELEGRAM_API_URL", "http://127.0.0.1:9001", func(c app.Config) any { return c.Telegram.APIURL }, "http://127.0.0.1:9001"},
		{"RELAY_DISCORD_API_URL", "http://127.0.0.1:9002/api", func(c app.Config) any { return c.Discord.APIURL }, "http://127.0.0.1:9002/api"},
		{"RELAY_RESEND_API_URL", "http://127.0.0.1:9003", func(c app.Config) any { return c.Email.APIURL }, "http://127.0.0.1:9003"},
		{"RELAY_DISCORD_GATEWAY", "off", func(c app.Config) any { return c.Discord.Gateway }, false},
		{"RELAY_DEBUG_ADDR", "127.0.0.1:6060", func(c app.Config) any { return c.DebugAddr }, "127.0.0.1:6060"},
	}
}

// everyVariableEnv sets every variable of the table.
func everyVariableEnv() map[string]string {
	env := make(map[string]string)
	for _, v := range everyVariable() {
		env[v.name] = v.value
	}
	return env
}

func TestLoadConfigEveryVariable(t *testing.T) {
	defaults := app.DefaultConfig()
	for _, v := range everyVariable() {
		t.Run(v.name, func(t *testing.T) {
			if reflect.DeepEqual(v.get(defaults), v.want) {
				t.Fatalf("test value %v is the default: the test would prove nothing", v.want)
			}
			cfg, _ := mustLoad(t, nil, map[string]string{v.name: v.value}, nil)
			if got := v.get(cfg); !reflect.DeepEqual(got, v.want) {
				t.Errorf("env %s=%s: got %v, want %v", v.name, v.value, got, v.want)
			}
			flagArg := testFlagName(v.name) + "=" + v.value
			cfg, _ = mustLoad(t, []string{flagArg}, nil, nil)
			if got := v.get(cfg); !reflect.DeepEqual(got, v.want) {
				t.Errorf("flag %s: got %v, want %v", flagArg, got, v.want)
			}
		})
	}
}

// The test table, the parser's table and dumpConfig list the same variables in the same order.
func TestEveryVariableMatchesSettings(t *testing.T) {
	var want []string
	for _, v := range everyVariable() {
		want = append(want, v.name)
	}
	var got []string
	for _, s := range settings() {
		got = append(got, s.name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings() =\n%q\nwant (PROTOCOL §10.3 order)\n%q", got, want)
	}
	var dumped []string
	var b bytes.Buffer
	dumpConfig(&b, app.DefaultConfig())
	for line := range strings.Lines(b.String()) {
		name, _, _ := strings.Cut(line, "=")
		dumped = append(dumped, name)
	}
	if !reflect.DeepEqual(dumped, want) {
		t.Errorf("dumpConfig lists\n%q\nwant\n%q", dumped, want)
	}
}

// Setting every variable changes every field of app.Config: no field lacks a variable (but
// those tagged setting:"-", such as an HTTP client for tests).
func TestEveryConfigFieldHasAVariable(t *testing.T) {
	cfg, _ := mustLoad(t, nil, everyVariableEnv(), nil)
	var walk func(path string, got, def reflect.Value)
	walk = func(path string, got, def reflect.Value) {
		if got.Kind() == reflect.Struct && strings.HasSuffix(got.Type().Name(), "Config") {
			for i := range got.NumField() {
				if got.Type().Field(i).Tag.Get("setting") != "-" {
					walk(path+"."+got.Type().Field(i).Name, got.Field(i), def.Field(i))
				}
			}
			return
		}
		if reflect.DeepEqual(got.Interface(), def.Interface()) {
			t.Errorf("%s is still the default after setting every variable: is a variable missing?", path)
		}
	}
	walk("Config", reflect.ValueOf(cfg), reflect.ValueOf(app.DefaultConfig()))
}

func TestLoadConfigFile(t *testing.T) {
	files := map[string]string{
		"/run/secrets/admin":   "hunter2 \n\t\n",
		"/run/secrets/root":    testRootKey + "\n",
		"/run/secrets/metrics": "  tok\r\n",
	}
	env := map[string]string{
		"RELAY_ADMIN_KEY_FILE":     "/run/secrets/admin",
		"RELAY_ROOT_KEY_FILE":      "/run/secrets/root",
		"RELAY_METRICS_TOKEN_FILE": "/run/secrets/metrics",
		// _FILE applies to RELAY_ names only: the original had no _FILE variables.
		"RESEND_API_KEY_FILE": "/run/secrets/admin",
	}
	cfg, _ := mustLoad(t, nil, env, files)
	if cfg.AdminKey != "hunter2" {
		t.Errorf("AdminKey = %q, want %q", cfg.AdminKey, "hunter2")
	}
	if cfg.Store.RootKey != testRootKey {
		t.Errorf("RootKey = %q, want %q", cfg.Store.RootKey, testRootKey)
	}
	if cfg.MetricsToken != "  tok" { // only trailing whitespace is trimmed
		t.Errorf("MetricsToken = %q, want %q", cfg.MetricsToken, "  tok")
	}
	if cfg.Email.APIKey != "" {
		t.Errorf("ResendAPIKey = %q from RESEND_API_KEY_FILE, want it ignored", cfg.Email.APIKey)
	}

	cfg, _ = mustLoad(t, []string{"--resend-webhook-secret-file", "/run/secrets/admin"}, nil, files)
	if cfg.Email.WebhookSecret != "hunter2" {
		t.Errorf("--resend-webhook-secret-file: ResendWebhookSecret = %q, want %q", cfg.Email.WebhookSecret, "hunter2")
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	files := map[string]string{"/s": "secret", "/empty": " \n"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"both set", nil, map[string]string{"RELAY_ADMIN_KEY": "a", "RELAY_ADMIN_KEY_FILE": "/s"}, []string{"RELAY_ADMIN_KEY and RELAY_ADMIN_KEY_FILE"}},
		{"both set, a flag wins anyway", []string{"--metrics-token=x"}, map[string]string{"RELAY_METRICS_TOKEN": "a", "RELAY_METRICS_TOKEN_FILE": "/s"}, []string{"RELAY_METRICS_TOKEN and RELAY_METRICS_TOKEN_FILE"}},
		{"both flags", []string{"--admin-key=a", "--admin-key-file=/s"}, nil, []string{"--admin-key and --admin-key-file"}},
		{"unreadable", nil, map[string]string{"RELAY_RESEND_API_KEY_FILE": "/missing"}, []string{"RELAY_RESEND_API_KEY_FILE", "/missing"}},
		{"unreadable flag", []string{"--new-root-key-file=/missing"}, nil, []string{"--new-root-key-file", "/missing"}},
		{"empty file", nil, map[string]string{"RELAY_METRICS_TOKEN_FILE": "/empty"}, []string{"RELAY_METRICS_TOKEN_FILE", "empty"}},
		{"bad root key in file", nil, map[string]string{"RELAY_ROOT_KEY_FILE": "/s"}, []string{"RELAY_ROOT_KEY_FILE", "base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustFail(t, tt.args, tt.env, files)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the file's contents", err)
			}
		})
	}
}

func TestLoadConfigStrictErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the variable or flag the error must name
	}{
		{"port", nil, map[string]string{"RELAY_PORT": "abc"}, `RELAY_PORT: invalid value "abc"`},
		{"port flag", []string{"--port=abc"}, nil, `--port: invalid value "abc"`},
		{"port out of range", nil, map[string]string{"RELAY_PORT": "70000"}, "RELAY_PORT"},
		{"port not trimmed", nil, map[string]string{"RELAY_PORT": " 8080"}, "RELAY_PORT"},
		{"body bytes", nil, map[string]string{"RELAY_MAX_BODY_BYTES": "1MB"}, "RELAY_MAX_BODY_BYTES"},
		{"duration without unit", nil, map[string]string{"RELAY_RETENTION": "5"}, `RELAY_RETENTION: invalid value "5"`},
		{"negative duration", nil, map[string]string{"RELAY_SWEEP_INTERVAL": "-1m"}, "RELAY_SWEEP_INTERVAL"},
		{"rate", nil, map[string]string{"RELAY_RATE_REPLY": "lots"}, `RELAY_RATE_REPLY: invalid value "lots"`},
		{"rate zero", nil, map[string]string{"RELAY_RATE_ADMIN_LOGIN": "0/1m"}, "RELAY_RATE_ADMIN_LOGIN"},
		{"log level", nil, map[string]string{"RELAY_LOG_LEVEL": "loud"}, `RELAY_LOG_LEVEL: invalid value "loud"`},
		{"log format", nil, map[string]string{"RELAY_LOG_FORMAT": "xml"}, "RELAY_LOG_FORMAT"},
		{"on/off", nil, map[string]string{"RELAY_RATE_LIMITS": "maybe"}, `RELAY_RATE_LIMITS: invalid value "maybe"`},
		{"proxies", nil, map[string]string{"RELAY_TRUSTED_PROXIES": "bogus"}, `RELAY_TRUSTED_PROXIES: invalid value "bogus"`},
		{"proxies second entry", nil, map[string]string{"RELAY_TRUSTED_PROXIES": "10.0.0.1,10.0.0.0/33"}, "RELAY_TRUSTED_PROXIES"},
		{"base url with path", nil, map[string]string{"RELAY_BASE_URL": "https://relay.example.com/chaos"}, "RELAY_BASE_URL"},
		{"base url without scheme", nil, map[string]string{"RELAY_BASE_URL": "relay.example.com"}, "RELAY_BASE_URL"},
		{"api url", nil, map[string]string{"RELAY_TELEGRAM_API_URL": "api.telegram.org"}, "RELAY_TELEGRAM_API_URL"},
		{"ws cap zero", nil, map[string]string{"RELAY_WS_MAX_CONN_PER_USER": "0"}, "RELAY_WS_MAX_CONN_PER_USER"},
		{"root key", nil, map[string]string{"RELAY_ROOT_KEY": "dG9vIHNob3J0"}, "RELAY_ROOT_KEY"},
		{"new root key", nil, map[string]string{"RELAY_NEW_ROOT_KEY": "not base64!"}, "RELAY_NEW_ROOT_KEY"},
		{"nats url scheme", nil, map[string]string{"RELAY_NATS_URL": "http://10.0.0.1:4222"}, "RELAY_NATS_URL: want comma-separated nats:// or tls:// URLs"},
		{"nats url second entry", nil, map[string]string{"RELAY_NATS_URL": "nats://10.0.0.1:4222,10.0.0.2"}, "RELAY_NATS_URL"},
		{"nats replicas", nil, map[string]string{"RELAY_NATS_URL": "nats://n1:4222", "RELAY_NATS_REPLICAS": "0"}, "RELAY_NATS_REPLICAS: must be 1 to 5"},
		{"nats write timeout", nil, map[string]string{"RELAY_NATS_URL": "nats://n1:4222", "RELAY_NATS_WRITE_TIMEOUT": "51s"}, "RELAY_NATS_WRITE_TIMEOUT: must be 1s to 50s"},
		{"nats prefix", nil, map[string]string{"RELAY_NATS_URL": "nats://n1:4222", "RELAY_NATS_PREFIX": "relay.eu"}, "RELAY_NATS_PREFIX"},
		{"nats creds", nil, map[string]string{"RELAY_NATS_CREDS": "-----BEGIN NATS USER JWT-----\nnope"}, "RELAY_NATS_CREDS: not a NATS user credentials file"},
		{"unknown flag", []string{"--prot=1"}, nil, "prot"},
		{"positional argument", []string{"--port=1", "extra"}, nil, `unexpected argument "extra"`},
		{"flag without value", []string{"--port"}, nil, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustFail(t, tt.args, tt.env, nil)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// Every error is reported at once, so an operator fixes them in one go.
func TestLoadConfigReportsEveryError(t *testing.T) {
	err := mustFail(t, nil, map[string]string{"RELAY_PORT": "abc", "RELAY_RETENTION": "5", "RELAY_LOG_LEVEL": "loud"}, nil)
	for _, name := range []string{"RELAY_PORT", "RELAY_RETENTION", "RELAY_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestLoadConfigErrorsHideSecrets(t *testing.T) {
	const key = "c2VjcmV0LXJvb3Qta2V5" // valid base64, wrong length
	err := mustFail(t, nil, map[string]string{"RELAY_ROOT_KEY": key}, nil)
	if strings.Contains(err.Error(), key) {
		t.Errorf("error %q reveals the root key", err)
	}
}

func TestLoadConfigLenientFallbacks(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		get  func(app.Config) any
		want any
	}{
		{"PORT not a number", map[string]string{"PORT": "abc"}, port, server.DefaultPort},
		{"PORT out of range", map[string]string{"PORT": "99999"}, port, server.DefaultPort},
		{"PORT padded", map[string]string{"PORT": " 3000 "}, port, 3000},
		{"LOG_LEVEL unknown", map[string]string{"LOG_LEVEL": "loud"}, logLevel, "info"},
		{"LOG_LEVEL upper case", map[string]string{"LOG_LEVEL": "DEBUG"}, logLevel, "debug"},
		{"LOG_FORMAT pretty", map[string]string{"LOG_FORMAT": "pretty"}, logFormat, "text"},
		{"LOG_FORMAT unknown", map[string]string{"LOG_FORMAT": "xml"}, logFormat, "text"},
		{"LOG_FORMAT json", map[string]string{"LOG_FORMAT": "json"}, logFormat, "json"},
		{"WS_MAX_CONN_PER_USER not a number", map[string]string{"WS_MAX_CONN_PER_USER": "many"}, wsCap, live.DefaultMaxConnPerUser},
		{"WS_MAX_CONN_PER_USER zero", map[string]string{"WS_MAX_CONN_PER_USER": "0"}, wsCap, live.DefaultMaxConnPerUser},
		{"CHAOS_EMAIL_DOMAIN", map[string]string{"CHAOS_EMAIL_DOMAIN": "in.example.com"}, func(c app.Config) any { return c.Email.Domain }, "in.example.com"},
		{"RESEND_API_KEY", map[string]string{"RESEND_API_KEY": "re_x"}, func(c app.Config) any { return c.Email.APIKey }, "re_x"},
		{"RESEND_WEBHOOK_SECRET", map[string]string{"RESEND_WEBHOOK_SECRET": "whsec_x"}, func(c app.Config) any { return c.Email.WebhookSecret }, "whsec_x"},
		{"RELAY_LOG_FORMAT pretty", map[string]string{"RELAY_LOG_FORMAT": "pretty"}, logFormat, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustLoad(t, nil, tt.env, nil)
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func logFormat(c app.Config) any { return c.Log.Format }

func TestLoadConfigRateLimits(t *testing.T) {
	for _, tt := range []struct {
		value    string
		disabled bool
	}{{"off", true}, {"on", false}, {"OFF", true}, {"false", true}, {"true", false}} {
		cfg, _ := mustLoad(t, nil, map[string]string{"RELAY_RATE_LIMITS": tt.value}, nil)
		if cfg.RateLimits.Disabled != tt.disabled {
			t.Errorf("RELAY_RATE_LIMITS=%s: Disabled = %v, want %v", tt.value, cfg.RateLimits.Disabled, tt.disabled)
		}
	}
	cfg, _ := mustLoad(t, []string{"--rate-limits", "off"}, map[string]string{"RELAY_RATE_LIMITS": "on"}, nil)
	if !cfg.RateLimits.Disabled {
		t.Errorf("--rate-limits off: rate limits still on")
	}
}

func TestLoadConfigNotes(t *testing.T) {
	_, notes := mustLoad(t, nil, map[string]string{"CHAOS_ENCRYPTION_KEY": "old-key"}, nil)
	if !notes.IgnoredEncryptionKey {
		t.Error("CHAOS_ENCRYPTION_KEY set: IgnoredEncryptionKey = false")
	}
	cfg, notes := mustLoad(t, []string{"--config-dump"}, nil, nil)
	if !notes.Dump {
		t.Error("--config-dump: Dump = false")
	}
	if want := app.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("--config-dump changed the config: %+v", cfg)
	}
}

func TestLoadConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, _, err := loadConfig([]string{arg}, fakeEnv(nil), fakeFiles(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("loadConfig(%q) error = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestUsage(t *testing.T) {
	var b bytes.Buffer
	usage(&b)
	out := b.String()
	for _, v := range everyVariable() {
		if !strings.Contains(out, testFlagName(v.name)+" ") || !strings.Contains(out, v.name) {
			t.Errorf("usage does not list %s (%s)", testFlagName(v.name), v.name)
		}
	}
	for _, want := range []string{"--config-dump", "(PORT)", "(CHAOS_ADMIN_KEY)", "127.0.0.1", "10/15m", "24h"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage does not contain %q:\n%s", want, out)
		}
	}
}

// setSecretFields sets every string field of c tagged secret:"true" to a recognisable value and
// returns the values by field path.
func setSecretFields(t *testing.T, c *app.Config) map[string]string {
	t.Helper()
	set := make(map[string]string)
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case f.Tag.Get("secret") == "true":
				if f.Type.Kind() != reflect.String {
					t.Fatalf("%s.%s is secret but not a string", path, f.Name)
				}
				value := "SECRET-" + f.Name + "-7f3a"
				v.Field(i).SetString(value)
				set[path+"."+f.Name] = value
			case f.Type.Kind() == reflect.Struct:
				walk(path+"."+f.Name, v.Field(i))
			}
		}
	}
	walk("Config", reflect.ValueOf(c).Elem())
	return set
}

func TestDumpConfigRedactsSecrets(t *testing.T) {
	c := app.DefaultConfig()
	secrets := setSecretFields(t, &c)
	if len(secrets) != 7 {
		t.Errorf("found %d secret fields, want 7 (PROTOCOL §10.3 †): %v", len(secrets), secrets)
	}
	var b bytes.Buffer
	dumpConfig(&b, c)
	out := b.String()
	for field, value := range secrets {
		if strings.Contains(out, value) {
			t.Errorf("dumpConfig prints %s:\n%s", field, out)
		}
	}
	for _, name := range []string{"RELAY_ROOT_KEY", "RELAY_NEW_ROOT_KEY", "RELAY_ADMIN_KEY", "RELAY_RESEND_API_KEY", "RELAY_RESEND_WEBHOOK_SECRET", "RELAY_METRICS_TOKEN", "RELAY_NATS_CREDS"} {
		if !strings.Contains(out, "\n"+name+"=[redacted]\n") {
			t.Errorf("dumpConfig has no %s=[redacted] line:\n%s", name, out)
		}
	}

	b.Reset()
	dumpConfig(&b, app.DefaultConfig())
	if strings.Contains(b.String(), "[redacted]") || !strings.Contains(b.String(), "\nRELAY_ADMIN_KEY=\n") {
		t.Errorf("an unset secret must dump as empty:\n%s", b.String())
	}
}

// A password in RELAY_NATS_URL is not dumped; the rest of the URL is.
func TestDumpConfigHidesNATSPassword(t *testing.T) {
	c := app.DefaultConfig()
	c.Store.NATS.URL = "nats://relay:s3cret-pw@10.0.0.1:4222,tls://10.0.0.2:4222,nats://bad url:pw@x"
	var b bytes.Buffer
	dumpConfig(&b, c)
	want := "\nRELAY_NATS_URL=nats://relay:xxxxx@10.0.0.1:4222,tls://10.0.0.2:4222,[unparsable]\n"
	if out := b.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, want) {
		t.Errorf("dump does not hide the password as %q:\n%s", want, out)
	}
}

// The dump is valid input: loading it back gives the same configuration (secrets aside).
func TestDumpConfigRoundTrip(t *testing.T) {
	for _, env := range []map[string]string{nil, everyVariableEnv()} {
		want, _ := mustLoad(t, nil, env, nil)
		var b bytes.Buffer
		dumpConfig(&b, want)
		dumped := make(map[string]string)
		for line := range strings.Lines(b.String()) {
			name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
			if !ok {
				t.Fatalf("dump line %q is not NAME=value", line)
			}
			if value != "[redacted]" {
				dumped[name] = value
			}
		}
		for _, s := range settings() {
			if s.secret || s.show != nil { // redacted, wholly or in part
				dumped[s.name] = env[s.name]
			}
		}
		got, _ := mustLoad(t, nil, dumped, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("reloading the dump:\n got %+v\nwant %+v\ndump:\n%s", got, want, b.String())
		}
	}
}

func TestDumpConfigFormat(t *testing.T) {
	var b bytes.Buffer
	dumpConfig(&b, app.DefaultConfig())
	for _, want := range []string{
		"RELAY_HOST=127.0.0.1\n", "RELAY_PORT=8787\n", "RELAY_BASE_URL=\n", "RELAY_TRUSTED_PROXIES=\n",
		"RELAY_SHUTDOWN_TIMEOUT=10s\n", "RELAY_RETENTION=24h\n", "RELAY_WS_REPLAY_WINDOW=5m\n",
		"RELAY_RATE_LIMITS=on\n", "RELAY_RATE_ADMIN_LOGIN=10/15m\n", "RELAY_LOG_FORMAT=text\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dump does not contain %q:\n%s", want, b.String())
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 10 * time.Minute: "10m", 24 * time.Hour: "24h",
		time.Hour + 5*time.Second: "1h0m5s", 500 * time.Millisecond: "500ms", 90 * time.Minute: "1h30m",
	} {
		if got := server.FormatDuration(d); got != want {
			t.Errorf("server.FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(server.FormatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", server.FormatDuration(d), back, err, d)
		}
	}
}
