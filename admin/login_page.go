package admin

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// loginView is the login page's view model.
type loginView struct {
	Nonce string
	Error string // the error line ("" for none)
}

// errorJSON is an error answer that this package writes itself: 5xx
// answers, which the server's error handler would turn into a generic 500.
type errorJSON struct {
	Error string `json:"error"`
}

// loginPage is GET /admin/login: the login card, or 503 when no admin key is
// configured.
func (h *Handler) loginPage(c *echo.Context) error {
	if h.key == "" {
		return writeJSON(c, http.StatusServiceUnavailable, errorJSON{msgNotConfiguredPage})
	}
	return h.renderLogin(c, http.StatusOK, "")
}

// renderLogin answers the login page with an optional error line.
func (h *Handler) renderLogin(c *echo.Context, status int, msg string) error {
	nonce := newNonce()
	return h.render(c, status, h.pages.login, nonce, loginView{Nonce: nonce, Error: msg})
}
