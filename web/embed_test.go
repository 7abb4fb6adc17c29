package web

import (
	"io/fs"
	"testing"
)

// TestEmbedded checks that the templates and assets the admin loads are in
// the binary, and that nothing else (such as this test) was embedded.
func TestEmbedded(t *testing.T) {
	for fsys, want := range map[fs.FS][]string{
		Templates: {"templates/dashboard.html", "templates/login.html", "templates/partials.html"},
		Static:    {"static/admin.css", "static/admin.js"},
	} {
		var got []string
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				got = append(got, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("embedded %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("embedded %q, want %q", got, want)
			}
		}
	}
}
