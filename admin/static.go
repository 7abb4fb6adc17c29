package admin

import (
	"io/fs"
	"net/http"
	"path"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/web"
)

// staticType is the content type of a file under web/static ("" when the
// extension is not one the admin serves).
func staticType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return ""
}

// static is GET /admin/static/*: the dashboard's committed CSS and JS. It
// needs no session (the login page uses the style sheet) and serves only
// files embedded under web/static, of the known types.
func (h *Handler) static(c *echo.Context) error {
	name := c.Param("*")
	ct := staticType(path.Ext(name))
	if ct == "" || !fs.ValidPath(name) {
		return httpError(http.StatusNotFound, "Not found")
	}
	b, err := fs.ReadFile(web.Static, "static/"+name)
	if err != nil {
		return httpError(http.StatusNotFound, "Not found")
	}
	c.Response().Header().Set("Content-Type", ct)
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(b)
	return err
}
