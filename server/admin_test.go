package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
)

// TestAdminThroughTheRelay: the admin routes as mounted by the server: live
// status, and a session deletion that closes the user's sockets with 1008
// and revokes the apiKey.
func TestAdminThroughTheRelay(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.AdminKey = "correct horse" })
	c := r.register(t, true)
	_, hook := webhookChannel(t, c, client.NewChannel{Name: "<b>hook</b>"})
	postN(t, hook, 2, "m")
	conn := r.dialWS(t, c, "", nil)
	readMessages(t, conn, 2)

	login := send(t, http.MethodPost, r.URL+"/admin/login", []byte(`{"password":"correct horse"}`), map[string]string{"Content-Type": "application/json"})
	if login.status != 200 {
		t.Fatalf("login %d %s", login.status, login.body)
	}
	cookie := strings.Split(login.header.Get("Set-Cookie"), ";")[0]
	if !strings.HasPrefix(cookie, "chaos_admin=") || !strings.Contains(login.header.Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("cookie %q", login.header.Get("Set-Cookie"))
	}
	withCookie := map[string]string{"Cookie": cookie, "Origin": r.URL}
	expectError(t, send(t, http.MethodGet, r.URL+"/admin/status", nil, nil), 401, "Unauthorized")

	st := send(t, http.MethodGet, r.URL+"/admin/status", nil, withCookie)
	var status struct {
		Status       string
		Websockets   int
		SessionCount int
		Sessions     []struct {
			UserID        string
			WsConnections int
		}
	}
	decode(t, st, &status)
	if st.status != 200 || status.Status != "ok" || status.Websockets != 1 || status.SessionCount != 1 ||
		status.Sessions[0].UserID != c.UserID || status.Sessions[0].WsConnections != 1 {
		t.Fatalf("status %d %s", st.status, st.body)
	}
	if !strings.Contains(st.body, `"<b>hook</b>"`) || st.header.Get("Content-Type") != "application/json" {
		t.Fatalf("channel name not served as plain JSON text: %s", st.body)
	}

	// A cross-site DELETE is refused; the same-origin one deletes everything.
	expectError(t, send(t, http.MethodDelete, r.URL+"/admin/sessions/"+c.UserID, nil,
		map[string]string{"Cookie": cookie, "Origin": "https://evil.example"}), 403, "Forbidden")
	del := send(t, http.MethodDelete, r.URL+"/admin/sessions/"+c.UserID, nil, withCookie)
	var out struct {
		OK      bool
		Deleted string
	}
	_ = json.Unmarshal([]byte(del.body), &out)
	if del.status != 200 || !out.OK || out.Deleted != c.UserID {
		t.Fatalf("delete %d %s", del.status, del.body)
	}
	if ce := closeCode(t, conn); ce.Code != 1008 || ce.Text != "Session deleted" {
		t.Fatalf("socket closed with %d %q", ce.Code, ce.Text)
	}
	if _, err := c.Channels(bg); apiError(t, err).Status != 401 {
		t.Fatalf("the deleted session's apiKey still works: %v", err)
	}
	expectError(t, send(t, http.MethodDelete, r.URL+"/admin/sessions/"+c.UserID, nil, withCookie), 404, "Session not found")
	// The same public key registers a new session.
	again, err := client.Register(bg, r.URL, c.Key, nil)
	if err != nil || again.UserID == c.UserID {
		t.Fatalf("re-registration after delete: %v %v", again, err)
	}
}

// TestAdminShowsAndDeletesMCPSessions: a session's MCP use is on the status
// (and so on its dashboard card), and deleting the session deletes its MCP
// sessions.
func TestAdminShowsAndDeletesMCPSessions(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.AdminKey = "correct horse" })
	c := r.register(t, false)
	r.extension(t, c, nil)
	r.mcpSession(t, c.APIKey, "a")
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_memory"}}`, nil),
		http.StatusOK, rpcResult("1", `{"content":[{"type":"text","text":"{\"ok\":true}"}]}`))
	login := send(t, http.MethodPost, r.URL+"/admin/login", []byte(`{"password":"correct horse"}`), map[string]string{"Content-Type": "application/json"})
	withCookie := map[string]string{"Cookie": strings.Split(login.header.Get("Set-Cookie"), ";")[0], "Origin": r.URL}
	if st := send(t, http.MethodGet, r.URL+"/admin/status", nil, withCookie); !strings.Contains(st.body, `"mcp":{"sessions":1,"callsLastHour":1}`) {
		t.Fatalf("status %d %s", st.status, st.body)
	}
	if v := r.metric(t, "relay_mcp_sessions"); v != "1" {
		t.Fatalf("relay_mcp_sessions %q, want 1", v)
	}
	if del := send(t, http.MethodDelete, r.URL+"/admin/sessions/"+c.UserID, nil, withCookie); del.status != 200 {
		t.Fatalf("delete %d %s", del.status, del.body)
	}
	if v := r.metric(t, "relay_mcp_sessions"); v != "0" {
		t.Fatalf("relay_mcp_sessions %q after the delete, want 0", v)
	}
}
