package webhook

import (
	"net/url"
	"testing"
)

// TestQueryValue: the webhook token lookup agrees with url.ParseQuery.
func TestQueryValue(t *testing.T) {
	for _, raw := range []string{
		"", "token=abc", "a=1&token=abc&token=def", "token=", "token", "tok%65n=x%2By+z", "token=%zz&token=ok",
		"token=a;b&token=c", "x=1;token=2", "&&token=v&", "=token&token=last", "token=%E2%9C%93",
	} {
		want := ""
		if vals, _ := url.ParseQuery(raw); vals != nil {
			want = vals.Get("token")
		}
		if got := queryValue(raw, "token"); got != want {
			t.Errorf("queryValue(%q) = %q, url.ParseQuery gives %q", raw, got, want)
		}
	}
}
