package live

import "testing"

// TestGrantNests: the larger size lasts while any grant of the user is open,
// covers only its frame type, and goes with the last release.
func TestGrantNests(t *testing.T) {
	h := testHub(5)
	frame := func(typ string, size int) []byte {
		b := []byte(`{"type":"` + typ + `","pad":"`)
		for len(b) < size-2 {
			b = append(b, 'x')
		}
		return append(b, '"', '}')
	}
	if h.grantedMax("u") != 0 || h.granted("u", frame("mcp-response", 100)) {
		t.Fatal("granted without a grant")
	}
	r1 := h.Grant("u", "mcp-response", 1000)
	r2 := h.Grant("u", "mcp-response", 2000)
	if h.grantedMax("u") != 2000 || h.grantedMax("v") != 0 {
		t.Fatalf("max %d (other user %d)", h.grantedMax("u"), h.grantedMax("v"))
	}
	for _, tt := range []struct {
		frame []byte
		ok    bool
	}{
		{frame("mcp-response", 2000), true},
		{frame("mcp-response", 2001), false},
		{frame("reply", 500), false},
		{[]byte(`not json`), false},
	} {
		if got := h.granted("u", tt.frame); got != tt.ok {
			t.Errorf("granted(%.30s…, %d bytes) = %v", tt.frame, len(tt.frame), got)
		}
	}
	r2()
	r2() // idempotent
	if !h.granted("u", frame("mcp-response", 1500)) {
		t.Fatal("the first grant ended with the second")
	}
	r1()
	if h.grantedMax("u") != 0 || len(h.grants) != 0 {
		t.Fatalf("grants left: %v", h.grants)
	}
}
