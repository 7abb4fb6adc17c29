package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

const formType = "Content-Type: application/x-www-form-urlencoded"

func TestLoginPage(t *testing.T) {
	v := newEnv(t)
	rec := v.do("GET", "/admin/login", "")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "type", rec.Header().Get("Content-Type"), "text/html; charset=utf-8")
	body := rec.Body.String()
	contains(t, "title", body, "CHAOS Relay Admin")
	contains(t, "form", body, `<form method="post" action="/admin/login"`)
	contains(t, "field", body, `name="password" type="password"`)
	notContains(t, "no error line", body, `class="error"`)
	wantPageHeaders(t, rec)
}

func TestLoginJSON(t *testing.T) {
	v := newEnv(t)
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"wrong password", `{"password":"nope"}`, 401, `{"error":"Invalid password"}`},
		{"missing password", `{}`, 401, `{"error":"Invalid password"}`},
		{"empty password", `{"password":""}`, 401, `{"error":"Invalid password"}`},
		{"password not a string", `{"password":42}`, 401, `{"error":"Invalid password"}`},
		{"prefix of the key", `{"password":"correct horse"}`, 401, `{"error":"Invalid password"}`},
		{"not JSON", `password=x`, 400, `{"error":"Invalid request body"}`},
		{"empty body", ``, 400, `{"error":"Invalid request body"}`},
		{"not an object", `["x"]`, 400, `{"error":"Invalid request body"}`},
		{"trailing data", `{"password":"x"} {}`, 400, `{"error":"Invalid request body"}`},
		{"last duplicate wins", `{"password":"nope","password":"` + testKey + `"}`, 200, `{"ok":true}`},
		{"right password", `{"password":"` + testKey + `"}`, 200, `{"ok":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := v.do("POST", "/admin/login", tc.body, "Content-Type: application/json")
			equal(t, "status", rec.Code, tc.status)
			equal(t, "type", rec.Header().Get("Content-Type"), "application/json")
			equal(t, "body", rec.Body.String(), tc.want)
			equal(t, "cookie only on success", findCookie(rec, cookieName) != nil, tc.status == 200)
			equal(t, "cache", rec.Header().Get("Cache-Control"), "no-store")
		})
	}
	// Any Content-Type but a form one is read as JSON.
	rec := v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`, "Content-Type: text/plain")
	equal(t, "text/plain body read as JSON", rec.Code, http.StatusOK)
}

func TestLoginForm(t *testing.T) {
	v := newEnv(t)
	rec := v.do("POST", "/admin/login", "password=wrong", formType)
	equal(t, "status", rec.Code, http.StatusUnauthorized)
	equal(t, "type", rec.Header().Get("Content-Type"), "text/html; charset=utf-8")
	contains(t, "error line", rec.Body.String(), `<p class="error" role="alert">Invalid password</p>`)
	contains(t, "still the login page", rec.Body.String(), `name="password"`)
	equal(t, "no cookie", findCookie(rec, cookieName) == nil, true)
	wantPageHeaders(t, rec)

	rec = v.do("POST", "/admin/login", "password=%zz", formType)
	wantError(t, rec, http.StatusBadRequest, "Invalid request body")

	rec = v.do("POST", "/admin/login", "other=1&password="+strings.ReplaceAll(testKey, " ", "+"), "Content-Type: Application/X-WWW-Form-Urlencoded; charset=UTF-8")
	equal(t, "status", rec.Code, http.StatusSeeOther)
	equal(t, "location", rec.Header().Get("Location"), "/admin")
	ck := findCookie(rec, cookieName)
	if ck == nil {
		t.Fatal("no session cookie")
	}
	// The form login's cookie opens the dashboard.
	equal(t, "dashboard", v.as(ck.Value, "GET", "/admin", "").Code, http.StatusOK)
}

func TestLoginCookie(t *testing.T) {
	for _, tc := range []struct {
		origin string
		secure bool
	}{
		{"http://localhost:8787", false},
		{"https://relay.example.com", true},
		{"HTTPS://Relay.Example.com", true},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			v := newEnv(t, withOrigin(tc.origin))
			rec := v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`)
			equal(t, "status", rec.Code, http.StatusOK)
			raw := rec.Header().Get("Set-Cookie")
			ck := findCookie(rec, cookieName)
			if ck == nil {
				t.Fatalf("no cookie in %q", raw)
			}
			equal(t, "token is a UUIDv4", len(ck.Value) == 36 && ck.Value[14] == '4', true)
			equal(t, "path", ck.Path, "/admin")
			equal(t, "max-age", ck.MaxAge, 86400)
			equal(t, "httponly", ck.HttpOnly, true)
			equal(t, "samesite", ck.SameSite, http.SameSiteStrictMode)
			equal(t, "secure", ck.Secure, tc.secure)
			equal(t, "Secure attribute", strings.Contains(raw, "; Secure"), tc.secure)

			// The store holds SHA-256(token) → creation time, not the token.
			created, err := v.store.AdminSession(ctx, tokenHash(ck.Value))
			must(t, err)
			equal(t, "created", created.Equal(t0), true)
			_, err = v.store.AdminSession(ctx, []byte(ck.Value))
			equal(t, "token itself not a key", errors.Is(err, storage.ErrNotFound), true)

			out := v.as(ck.Value, "POST", "/admin/logout", "")
			cleared := out.Header().Get("Set-Cookie")
			equal(t, "logout Secure", strings.Contains(cleared, "; Secure"), tc.secure)
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	v := newEnv(t)
	v.relay.loginLimit = 61*time.Second + time.Millisecond

	rec := v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`)
	wantError(t, rec, http.StatusTooManyRequests, "Too many login attempts. Try again later.")
	equal(t, "retry-after rounds up", rec.Header().Get("Retry-After"), "62")
	equal(t, "no cookie", findCookie(rec, cookieName) == nil, true)

	rec = v.do("POST", "/admin/login", "password=x", formType)
	equal(t, "form status", rec.Code, http.StatusTooManyRequests)
	equal(t, "form type", rec.Header().Get("Content-Type"), "text/html; charset=utf-8")
	equal(t, "form retry-after", rec.Header().Get("Retry-After"), "62")
	contains(t, "form page", rec.Body.String(), `<p class="error" role="alert">Too many login attempts. Try again later.</p>`)

	// The limit comes before the body is looked at, and a tiny wait is still 1 s.
	v.relay.loginLimit = time.Millisecond
	rec = v.do("POST", "/admin/login", `not json`)
	wantError(t, rec, http.StatusTooManyRequests, "Too many login attempts. Try again later.")
	equal(t, "retry-after at least 1", rec.Header().Get("Retry-After"), "1")
	equal(t, "keyed by client IP", v.relay.calls(&v.relay.logins)[0], "192.0.2.1")
}

func TestNotConfigured(t *testing.T) {
	v := newEnv(t, withKey(""))
	wantError(t, v.do("GET", "/admin/login", ""), http.StatusServiceUnavailable, "Admin not configured (set CHAOS_ADMIN_KEY env var)")
	wantError(t, v.do("POST", "/admin/login", `{"password":""}`), http.StatusServiceUnavailable, "Admin not configured")
	wantError(t, v.do("POST", "/admin/login", "password=", formType), http.StatusServiceUnavailable, "Admin not configured")
	equal(t, "no rate-limit use", len(v.relay.calls(&v.relay.logins)), 0)

	// A session left in the store from when a key was set opens nothing.
	token := storage.NewID()
	must(t, v.store.PutAdminSession(ctx, tokenHash(token), t0))
	rec := v.as(token, "GET", "/admin", "")
	equal(t, "dashboard redirects", rec.Code, http.StatusFound)
	equal(t, "to login", rec.Header().Get("Location"), "/admin/login")
	wantError(t, v.as(token, "GET", "/admin/status", ""), http.StatusUnauthorized, "Unauthorized")
	wantError(t, v.as(token, "DELETE", "/admin/sessions/"+userA, ""), http.StatusUnauthorized, "Unauthorized")
	equal(t, "logout still clears", v.as(token, "POST", "/admin/logout", "").Code, http.StatusFound)
}

func TestLoginBodyTooLarge(t *testing.T) {
	v := newEnv(t)
	rec := v.do("POST", "/admin/login", `{"password":"`+strings.Repeat("a", maxLoginBody)+`"}`)
	wantError(t, rec, http.StatusRequestEntityTooLarge, "Request body too large")
}

func TestLogout(t *testing.T) {
	v := newEnv(t)
	token := v.login(t)
	equal(t, "logged in", v.as(token, "GET", "/admin/status", "").Code, http.StatusOK)

	rec := v.as(token, "POST", "/admin/logout", "")
	equal(t, "status", rec.Code, http.StatusFound)
	equal(t, "location", rec.Header().Get("Location"), "/admin/login")
	raw := rec.Header().Get("Set-Cookie")
	for _, part := range []string{"chaos_admin=", "Path=/admin", "HttpOnly", "SameSite=Strict", "Max-Age=0"} {
		contains(t, "cleared cookie", raw, part)
	}
	notContains(t, "no Secure over http", raw, "Secure")
	_, err := v.store.AdminSession(ctx, tokenHash(token))
	equal(t, "session deleted", errors.Is(err, storage.ErrNotFound), true)
	// The old cookie opens nothing any more.
	wantError(t, v.as(token, "GET", "/admin/status", ""), http.StatusUnauthorized, "Unauthorized")
	equal(t, "dashboard", v.as(token, "GET", "/admin", "").Code, http.StatusFound)

	// Without a cookie, logout still answers the redirect.
	rec = v.do("POST", "/admin/logout", "")
	equal(t, "anonymous logout", rec.Code, http.StatusFound)
}

func TestSessionsSurviveARestart(t *testing.T) {
	v := newEnv(t)
	token := v.login(t)
	// A second handler on the same store (as after a restart) accepts it.
	h := New(Config{Key: testKey, Now: v.clock.Now}, v.store, v.relay, nil)
	w := &env{store: v.store, clock: v.clock, relay: v.relay, h: h, e: newEcho(h)}
	equal(t, "status", w.as(token, "GET", "/admin/status", "").Code, http.StatusOK)
}

func TestSessionExpiry(t *testing.T) {
	v := newEnv(t)
	token := v.login(t)
	v.clock.Add(SessionTTL - time.Millisecond)
	equal(t, "just before", v.as(token, "GET", "/admin/status", "").Code, http.StatusOK)
	v.clock.Add(time.Millisecond)
	wantError(t, v.as(token, "GET", "/admin/status", ""), http.StatusUnauthorized, "Unauthorized")
	rec := v.as(token, "GET", "/admin", "")
	equal(t, "dashboard redirect", rec.Code, http.StatusFound)
	equal(t, "location", rec.Header().Get("Location"), "/admin/login")
}
