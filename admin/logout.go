package admin

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// logout is POST /admin/logout: it deletes the session named by the cookie,
// if any, clears the cookie and redirects to the login page. It needs no
// valid session, so a stale cookie can always be cleared.
func (h *Handler) logout(c *echo.Context) error {
	r := c.Request()
	if token := sessionToken(r); token != "" {
		// A failed delete must not look like a logout: the token would stay valid.
		if err := h.store.DeleteAdminSession(r.Context(), tokenHash(token)); err != nil {
			return err
		}
	}
	http.SetCookie(c.Response(), h.sessionCookie(r, "", -1))
	return c.Redirect(http.StatusFound, "/admin/login")
}
