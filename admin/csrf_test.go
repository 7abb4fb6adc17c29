package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/storage"
)

func TestCSRF(t *testing.T) {
	v := newEnv(t, withOrigin("https://relay.example.com"))
	seedOverview(t, v)
	failed := addResponse(t, v.store, userA, tgID, "x", storage.Delivery{Status: storage.StatusFailed, LastError: "boom"})
	token := v.login(t) // no Origin header: allowed

	refused := []string{
		"Origin: https://evil.example",
		"Origin: http://relay.example.com",       // another scheme
		"Origin: https://relay.example.com:8443", // another port
		"Origin: https://relay.example.com.evil.example",
		"Origin: null",
		"Origin: null\nSec-Fetch-Site: same-site",
		"Origin: null\nSec-Fetch-Site: none",
		"Origin: ",
		"Sec-Fetch-Site: cross-site",
		"Sec-Fetch-Site: Cross-Site",
	}
	for _, hs := range refused {
		h := strings.Split(hs, "\n")
		t.Run(hs, func(t *testing.T) {
			wantError(t, v.as(token, "DELETE", "/admin/sessions/"+userB, "", h...), http.StatusForbidden, "Forbidden")
			wantError(t, v.as(token, "POST", "/admin/deliveries/"+failed.ID+"/retry", "", h...), http.StatusForbidden, "Forbidden")
			wantError(t, v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`, h...), http.StatusForbidden, "Forbidden")
			wantError(t, v.do("POST", "/admin/login", "password=x", append(h, formType)...), http.StatusForbidden, "Forbidden")
			wantError(t, v.as(token, "POST", "/admin/logout", "", h...), http.StatusForbidden, "Forbidden")
		})
	}
	_, err := v.store.User(ctx, userB)
	must(t, err) // not deleted
	d, err := v.store.Delivery(ctx, failed.ID)
	must(t, err)
	equal(t, "not retried", d.Status, storage.StatusFailed)
	equal(t, "no login attempt counted", len(v.relay.calls(&v.relay.logins)), 1)
	equal(t, "still logged in", v.as(token, "GET", "/admin/status", "").Code, http.StatusOK)

	// Same origin, however it is spelled, and same-site fetches pass.
	rec := v.as(token, "POST", "/admin/deliveries/"+failed.ID+"/retry", "", "Origin: HTTPS://Relay.Example.COM:443", "Sec-Fetch-Site: same-origin")
	equal(t, "retry", rec.Code, http.StatusOK)
	rec = v.as(token, "DELETE", "/admin/sessions/"+userB, "", "Origin: https://relay.example.com")
	equal(t, "delete", rec.Code, http.StatusOK)
	rec = v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`, "Origin: https://relay.example.com", "Sec-Fetch-Site: same-site")
	equal(t, "login", rec.Code, http.StatusOK)
	// A browser's own form post from a no-referrer page: Origin null, same-origin.
	rec = v.do("POST", "/admin/login", "password="+strings.ReplaceAll(testKey, " ", "+"), formType, "Origin: null", "Sec-Fetch-Site: same-origin")
	equal(t, "form login from the login page", rec.Code, http.StatusSeeOther)
	rec = v.as(token, "POST", "/admin/logout", "", "Origin: null", "Sec-Fetch-Site: same-origin")
	equal(t, "logout", rec.Code, http.StatusFound)
}

func TestCSRFDefaultPortOfHTTP(t *testing.T) {
	v := newEnv(t, withOrigin("http://localhost"))
	rec := v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`, "Origin: http://LOCALHOST:80")
	equal(t, "same origin", rec.Code, http.StatusOK)
	wantError(t, v.do("POST", "/admin/login", `{}`, "Origin: http://localhost:8787"), http.StatusForbidden, "Forbidden")
}

func TestNormalizeOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"https://relay.example.com", "https://relay.example.com", true},
		{"HTTPS://Relay.Example.com:443", "https://relay.example.com", true},
		{"https://relay.example.com:8443/", "https://relay.example.com:8443", true},
		{"http://relay.example.com:80/path?q", "http://relay.example.com", true},
		{"http://relay.example.com:443", "http://relay.example.com:443", true},
		{"http://[::1]:8787", "http://[::1]:8787", true},
		{"http://[::1]:80", "http://[::1]", true},
		{"null", "", false},
		{"", "", false},
		{"relay.example.com", "", false},
		{"mailto:a@b", "", false},
	} {
		got, ok := normalizeOrigin(tc.in)
		equal(t, tc.in+" ok", ok, tc.ok)
		equal(t, tc.in, got, tc.want)
	}
}
