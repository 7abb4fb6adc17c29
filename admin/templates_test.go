package admin

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/web"
)

// TestTemplatesParseAndRender parses every template file and executes each
// page with a zero-value view model, so a template that refers to a missing
// field or breaks on empty data fails here and not in production.
func TestTemplatesParseAndRender(t *testing.T) {
	files, err := fs.Glob(web.Templates, "templates/*")
	must(t, err)
	pagesByFile := map[string]any{
		loginFile:     loginView{},
		dashboardFile: dashboardView{},
	}
	for _, f := range files {
		if f == partialsFile {
			continue
		}
		view, ok := pagesByFile[f]
		if !ok {
			t.Fatalf("%s is neither a page nor the partials: add it to templates.go and this test", f)
		}
		tmpl, err := parsePage(f)
		must(t, err)
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, view); err != nil {
			t.Fatalf("%s with a zero view: %v", f, err)
		}
		out := buf.String()
		if !strings.HasPrefix(out, "<!doctype html>") || !strings.Contains(out, "</html>") {
			t.Fatalf("%s: not a whole page: %.200q", f, out)
		}
		contains(t, f, out, "CHAOS Relay Admin")
	}
	if _, err := parsePages(); err != nil {
		t.Fatal(err)
	}
	// The partials' blocks render on zero values too.
	tmpl, err := parsePage(dashboardFile)
	must(t, err)
	for _, block := range []struct {
		name string
		view any
	}{{"head", nil}, {"badge", badgeView{}}, {"session", sessionView{}}, {"recentRow", recentJSON{}}, {"deliveryRow", deliveryJSON{}}, {"node", nodeView{}}} {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, block.name, block.view); err != nil {
			t.Fatalf("block %s: %v", block.name, err)
		}
	}
}

func TestStaticAssetsAreEmbedded(t *testing.T) {
	for _, name := range []string{"static/admin.css", "static/admin.js"} {
		b, err := fs.ReadFile(web.Static, name)
		must(t, err)
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	js, err := fs.ReadFile(web.Static, "static/admin.js")
	must(t, err)
	// Data reaches the page only through textContent and DOM APIs.
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		notContains(t, "admin.js", string(js), banned)
	}
}
