package admin

import (
	"fmt"
	"html/template"
	"path"
	"strings"

	"github.com/chaos-relay/relay/web"
)

// Template files under web/templates: the partials that every page is parsed
// with, and one file per page. The tests check that every file there is one
// of these, so none is forgotten.
const (
	partialsFile  = "templates/partials.html"
	loginFile     = "templates/login.html"
	dashboardFile = "templates/dashboard.html"
)

// parsePage parses one page with the partials. The helpers it may call
// return plain strings, which html/template escapes like any other value.
func parsePage(file string) (*template.Template, error) {
	funcs := template.FuncMap{"when": displayTime, "parts": partsLabel, "short": shortID}
	t, err := template.New(path.Base(file)).Funcs(funcs).ParseFS(web.Templates, partialsFile, file)
	if err != nil {
		return nil, fmt.Errorf("admin: parse %s: %w", file, err)
	}
	return t, nil
}

// parsePages parses every page, once, at startup.
func parsePages() (pages, error) {
	var (
		p   pages
		err error
	)
	if p.login, err = parsePage(loginFile); err != nil {
		return p, err
	}
	if p.dashboard, err = parsePage(dashboardFile); err != nil {
		return p, err
	}
	return p, nil
}

// displayTime shows an ISO timestamp as "YYYY-MM-DD HH:MM:SS" (UTC), as the
// dashboard script does.
func displayTime(iso string) string {
	if len(iso) < 19 {
		return iso
	}
	return strings.Replace(iso[:19], "T", " ", 1)
}
