// Package web holds the admin dashboard's html/template files and its plain
// CSS and JavaScript, embedded so that building and testing the relay never
// needs a front-end toolchain. Package admin parses and serves them.
package web

import "embed"

// Templates holds the html/template files, under templates/.
//
//go:embed templates/*.html
var Templates embed.FS

// Static holds the assets served under /admin/static/, under static/.
//
//go:embed static
var Static embed.FS
