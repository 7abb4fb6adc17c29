package rawjson_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/channels/rawjson"
)

func TestCompact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"spec example", `{"text":"hi","sender":"x"}`, `{"text":"hi","sender":"x"}`},
		{"whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } , \"c\":[ ] } \n", `{"a":[1,2],"b":{},"c":[]}`},
		{"nested", `{"a":{"b":{"c":[{"d":null}]}},"e":[[true],[false]]}`, `{"a":{"b":{"c":[{"d":null}]}},"e":[[true],[false]]}`},
		{"order kept", `{"z":1,"a":2,"10":3,"2":4}`, `{"z":1,"a":2,"10":3,"2":4}`},
		{"numbers kept", `[1.50, 1E+2, -0, 0.0e-0, 1e5, 12345678901234567890123, -1.0E-10, 0]`, `[1.50,1E+2,-0,0.0e-0,1e5,12345678901234567890123,-1.0E-10,0]`},
		{"scalar top level", ` "hi" `, `"hi"`},
		{"number top level", `-12.5e3`, `-12.5e3`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"unicode escape", `"\u0041\u00e9\u4e2D"`, `"Aé中"`},
		{"solidus", `"a\/b"`, `"a/b"`},
		{"U+2028 escape decoded", `"a\u2028b\u2029c"`, "\"a\u2028b\u2029c\""},
		{"raw U+2028 kept", "\"a\u2028b\"", "\"a\u2028b\""},
		{"control escapes", `"\u001f\u000a\u0008\u000C\u000d\u0009\u0000\u007f"`, "\"\\u001f\\n\\b\\f\\r\\t\\u0000\x7f\""},
		{"short escapes kept", `"\"\\\b\f\n\r\t"`, `"\"\\\b\f\n\r\t"`},
		{"quote and backslash escapes", `"\u0022\u005c"`, `"\"\\"`},
		{"no HTML escaping", `"<a href=\"x\">&amp;</a>"`, `"<a href=\"x\">&amp;</a>"`},
		{"html escapes decoded", `"\u003c\u003e\u0026"`, `"<>&"`},
		{"surrogate pair", `"\ud83c\udf89"`, `"🎉"`},
		{"surrogate pair upper hex", `"\uD83D\uDE00"`, `"😀"`},
		{"raw emoji", `"🎉"`, `"🎉"`},
		{"lone high surrogate", `"a\ud800b"`, "\"a\ufffdb\""},
		{"lone low surrogate", `"\udc00"`, "\"\ufffd\""},
		{"high at end", `"\ud800"`, "\"\ufffd\""},
		{"high then high", `"\ud800\ud800"`, "\"\ufffd\ufffd\""},
		{"high then non-surrogate escape", `"\ud800\u0041"`, "\"\ufffdA\""},
		{"high then short escape", `"\ud800\n"`, "\"\ufffd\\n\""},
		{"invalid UTF-8", "\"a\xffb\xc3\"", "\"a\ufffdb\ufffd\""},
		{"truncated multibyte", "\"\xe2\x82z\"", "\"\ufffd\ufffdz\""},
		{"escaped key", `{"\u0061":1}`, `{"a":1}`},
		{"duplicate keys", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"duplicate keys differently escaped", `{"a":1,"b":2,"\u0061":3}`, `{"a":3,"b":2}`},
		{"duplicate replaces object with scalar", `{"a":{"x":1},"b":2,"a":[3]}`, `{"a":[3],"b":2}`},
		{"nested duplicates", `{"o":{"k":1,"j":0,"k":2},"p":[{"x":1,"x":2}],"o":{"k":3,"k":4,"m":5}}`, `{"o":{"k":4,"m":5},"p":[{"x":2}]}`},
		{"duplicate inside kept value", `{"a":{"b":1,"b":2},"c":3}`, `{"a":{"b":2},"c":3}`},
		{"many duplicates", `{"a":1,"a":2,"a":3,"b":4,"a":5}`, `{"a":5,"b":4}`},
		{"invalid UTF-8 keys merge", "{\"\xff\":1,\"\xfe\":2}", "{\"\ufffd\":2}"},
		{"same key in sibling objects", `[{"a":1},{"a":2}]`, `[{"a":1},{"a":2}]`},
		{"empty string key", `{"":1,"":2}`, `{"":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "Compact", mustCompact(t, tt.in), tt.want)
			checkCompact(t, []byte(tt.in))
		})
	}
}

func TestCompactInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"only whitespace", " \n\t "},
		{"trailing garbage", `{"a":1}x`},
		{"two values", `1 2`},
		{"trailing comma in object", `{"a":1,}`},
		{"trailing comma in array", `[1,]`},
		{"leading comma", `[,1]`},
		{"missing colon", `{"a" 1}`},
		{"missing value", `{"a":}`},
		{"unquoted key", `{a:1}`},
		{"single quotes", `{'a':1}`},
		{"unterminated string", `"abc`},
		{"unterminated after escape", `"abc\`},
		{"unterminated object", `{"a":1`},
		{"unterminated array", `[1,2`},
		{"unbalanced", `[1}`},
		{"bad escape", `"\x"`},
		{"bad unicode escape", `"\u12G4"`},
		{"short unicode escape", `"\u12"`},
		{"bad second surrogate escape", `"\ud800\u12"`},
		{"raw newline in string", "\"a\nb\""},
		{"raw tab in string", "\"a\tb\""},
		{"raw NUL in string", "\"a\x00b\""},
		{"leading zero", `01`},
		{"negative leading zero", `-01`},
		{"trailing dot", `1.`},
		{"leading dot", `.5`},
		{"plus sign", `+1`},
		{"bare minus", `-`},
		{"empty exponent", `1e`},
		{"signed empty exponent", `1e+`},
		{"NaN", `NaN`},
		{"Infinity", `-Infinity`},
		{"hex number", `0x10`},
		{"truncated literal", `tru`},
		{"literal with suffix", `nullx`},
		{"capitalised literal", `True`},
		{"BOM", "\ufeff{}"},
		{"comment", `{"a":1 /* c */}`},
		{"vertical tab whitespace", "\v1"},
		{"invalid UTF-8 outside string", "[\xff]"},
		{"lone close", `]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rawjson.Compact([]byte(tt.in))
			errorIs(t, err, rawjson.ErrInvalid)
			if out != nil {
				t.Errorf("out = %q, want nil", out)
			}
			equal(t, "json.Valid", json.Valid([]byte(tt.in)), false)
		})
	}
}

func TestCompactDepth(t *testing.T) {
	nest := func(n int, open, close string) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"arrays at limit", nest(10000, "[", "]"), true},
		{"arrays over limit", nest(10001, "[", "]"), false},
		{"objects at limit", []byte(strings.Repeat(`{"a":`, 9999) + "{}" + strings.Repeat("}", 9999)), true},
		{"objects over limit", []byte(strings.Repeat(`{"a":`, 10000) + "{}" + strings.Repeat("}", 10000)), false},
		{"a million opens", bytes.Repeat([]byte("["), 1_000_000), false},
		{"deep duplicates", []byte(strings.Repeat(`{"a":0,"b":`, 5000) + "1" + strings.Repeat(`,"a":1}`, 5000)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rawjson.Compact(tt.in)
			if tt.ok {
				errorIs(t, err, nil)
				equal(t, "json.Valid(out)", json.Valid(out), true)
			} else {
				errorIs(t, err, rawjson.ErrInvalid)
			}
			equal(t, "json.Valid(in)", json.Valid(tt.in), tt.ok)
		})
	}
}

// TestCompactLargeObjects covers objects past the linear-scan size, whose duplicates are found
// through the hash index, and inputs that would be quadratic with a naive merge.
func TestCompactLargeObjects(t *testing.T) {
	var in, want strings.Builder
	in.WriteString("{")
	want.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&in, `"k%d":%d,`, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&want, `"k%d":"last%d",`, i, i)
		} else {
			fmt.Fprintf(&want, `"k%d":%d,`, i, i)
		}
	}
	for i := 0; i < 100; i += 10 {
		fmt.Fprintf(&in, `"k%d":"last%d",`, i, i)
	}
	in.WriteString(`"end":true}`)
	want.WriteString(`"end":true}`)
	equal(t, "Compact", mustCompact(t, in.String()), want.String())
	checkCompact(t, []byte(in.String()))

	t.Run("no duplicates", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := range 1000 {
			fmt.Fprintf(&b, `"key-%d":{"n":%d},`, i, i)
		}
		b.WriteString(`"x":0}`)
		equal(t, "Compact", mustCompact(t, b.String()), b.String())
	})
	t.Run("many duplicates after a big value", func(t *testing.T) {
		in := `{"a":0,"big":"` + strings.Repeat("x", 1<<19) + `"` + strings.Repeat(`,"a":1`, 1<<16) + "}"
		equal(t, "Compact", mustCompact(t, in), `{"a":1,"big":"`+strings.Repeat("x", 1<<19)+`"}`)
	})
	t.Run("100k distinct keys", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := range 100_000 {
			fmt.Fprintf(&b, `"%d":1,`, i)
		}
		b.WriteString(`"0":2}`)
		out := mustCompact(t, b.String())
		if !strings.HasPrefix(out, `{"0":2,"1":1,`) || strings.Count(out, ":") != 100_000 {
			t.Errorf("Compact = %.40q…, want the first member replaced and 100000 members", out)
		}
	})
}

// TestCompactRandom cross-checks Compact against encoding/json on generated documents full of
// whitespace, escapes, odd number literals and duplicate keys.
func TestCompactRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var g generator
		g.r = r
		g.value(0)
		checkCompact(t, g.buf)
	}
}

func FuzzCompact(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi","sender":"x"}`, `{"a":1,"b":2,"a":3}`, `[1.50,1E+2,-0]`, `"\u0041\/\u2028\ud83c\udf89\ud800"`,
		`{"o":{"k":1,"k":2},"o":[]}`, "\"\xff\"", `01`, `[1,]`, " {\n\"a\" : [ true , null ] } ", `"\u001f"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkCompact(t, in)
	})
}

func TestCompactDoesNotAlias(t *testing.T) {
	in := []byte(`{"a":"b"}`)
	out, err := rawjson.Compact(in)
	errorIs(t, err, nil)
	in[6] = 'X'
	equal(t, "out", string(out), `{"a":"b"}`)
}

func TestAppendString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", `""`},
		{"plain", "hello", `"hello"`},
		{"quote and backslash", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"DEL not escaped", "\x7f", "\"\x7f\""},
		{"no HTML escaping", "<a>&</a>", `"<a>&</a>"`},
		{"U+2028 and U+2029 raw", "\u2028\u2029", "\"\u2028\u2029\""},
		{"non-ASCII", "Ünïcödé 🎉", `"Ünïcödé 🎉"`},
		{"invalid UTF-8", "a\xffb\xe2\x82", "\"a\ufffdb\ufffd\ufffd\""},
		{"slash", "a/b", `"a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawjson.AppendString([]byte("x"), tt.in)
			equal(t, "AppendString", string(got), "x"+tt.want)
			checkMinimal(t, got[1:])
			var back string
			errorIs(t, json.Unmarshal(got[1:], &back), nil)
			equal(t, "round trip", back, string([]rune(tt.in))) // []rune repairs UTF-8 byte by byte
		})
	}
}

func TestParseObject(t *testing.T) {
	o, err := rawjson.ParseObject([]byte(` {"z": 1.50, "a" : {"x" : [1, 2]}, "s":"\u0041\n", "z":"last", "n":null} `))
	errorIs(t, err, nil)
	equal(t, "Len", o.Len(), 4)
	equal(t, "Keys", strings.Join(o.Keys(), ","), "z,a,s,n")
	v, ok := o.Get("a")
	equal(t, "Get(a) ok", ok, true)
	equal(t, "Get(a)", string(v), `{"x":[1,2]}`)
	s, ok := o.GetString("s")
	equal(t, "GetString(s) ok", ok, true)
	equal(t, "GetString(s)", s, "A\n")
	s, ok = o.GetString("z")
	equal(t, "GetString(z)", s+fmt.Sprint(ok), "lasttrue")
	_, ok = o.GetString("a")
	equal(t, "GetString(a) ok", ok, false)
	_, ok = o.Get("missing")
	equal(t, "Get(missing) ok", ok, false)
	equal(t, "Has(n)", o.Has("n"), true)
	equal(t, "Has(missing)", o.Has("missing"), false)
	b, err := o.MarshalJSON()
	errorIs(t, err, nil)
	equal(t, "MarshalJSON", string(b), `{"z":"last","a":{"x":[1,2]},"s":"A\n","n":null}`)

	// Appending to a returned value must not overwrite the next value in the shared buffer.
	v, _ = o.Get("a")
	_ = append(v, "XXXXXXXX"...)
	s, _ = o.GetString("s")
	equal(t, "GetString(s) after append", s, "A\n")

	o, err = rawjson.ParseObject([]byte(`{"\u00e9\t\ud83c\udf89\"":"\u0041\/\ud800\b\f\r\\\u0000"}`))
	errorIs(t, err, nil)
	equal(t, "escaped key", o.Keys()[0], "é\t🎉\"")
	s, _ = o.GetString("é\t🎉\"")
	equal(t, "escaped value", s, "A/\ufffd\b\f\r\\\x00")

	for _, in := range []string{``, `[]`, `"obj"`, `null`, `1`, `{"a":1,}`, `{} {}`} {
		_, err := rawjson.ParseObject([]byte(in))
		errorIs(t, err, rawjson.ErrInvalid)
	}
	o, err = rawjson.ParseObject([]byte(`{}`))
	errorIs(t, err, nil)
	equal(t, "Len of {}", o.Len(), 0)
}

func TestObjectEdit(t *testing.T) {
	o, err := rawjson.ParseObject([]byte(`{"a":1,"b":2,"c":3}`))
	errorIs(t, err, nil)
	o.Set("b", json.RawMessage(`[true]`))
	o.SetString("d", "x<y")
	o.SetBool("e", false)
	o.SetInt("f", -42)
	o.Set("g", nil)
	equal(t, "after Set", string(o.AppendJSON(nil)), `{"a":1,"b":[true],"c":3,"d":"x<y","e":false,"f":-42,"g":null}`)
	o.Delete("a")
	o.Delete("missing")
	o.Delete("d")
	equal(t, "after Delete", string(o.AppendJSON([]byte("> "))), `> {"b":[true],"c":3,"e":false,"f":-42,"g":null}`)

	c := o.Clone()
	c.SetString("c", "changed")
	c.Delete("b")
	equal(t, "original after clone edit", string(o.AppendJSON(nil)), `{"b":[true],"c":3,"e":false,"f":-42,"g":null}`)
	equal(t, "clone", string(c.AppendJSON(nil)), `{"c":"changed","e":false,"f":-42,"g":null}`)

	var zero rawjson.Object
	zero.SetString("k", "v")
	equal(t, "zero value", string(zero.AppendJSON(nil)), `{"k":"v"}`)

	zero.SetString("bad\xff", "v")
	equal(t, "invalid UTF-8 key", zero.Keys()[1], "bad\ufffd")
	equal(t, "Has invalid key", zero.Has("bad\xfe"), true)
}

// TestObjectLarge exercises the key index of objects with many members.
func TestObjectLarge(t *testing.T) {
	var o rawjson.Object
	want := map[string]int64{}
	var order []string
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		k := fmt.Sprint("k", r.IntN(60))
		switch r.IntN(4) {
		case 0:
			o.Delete(k)
			delete(want, k)
			order = slices.DeleteFunc(order, func(s string) bool { return s == k })
		default:
			o.SetInt(k, int64(i))
			if _, ok := want[k]; !ok {
				order = append(order, k)
			}
			want[k] = int64(i)
		}
		if o.Len() != len(want) {
			t.Fatalf("step %d: Len = %d, want %d", i, o.Len(), len(want))
		}
	}
	equal(t, "Keys", strings.Join(o.Keys(), ","), strings.Join(order, ","))
	for k, v := range want {
		got, ok := o.Get(k)
		if !ok || string(got) != fmt.Sprint(v) {
			t.Errorf("Get(%q) = %s, %v; want %d", k, got, ok, v)
		}
	}
	c := o.Clone()
	c.Delete(order[0])
	equal(t, "Has in original after clone delete", o.Has(order[0]), true)
	equal(t, "Has in clone", c.Has(order[0]), false)
}

func TestObjectJSON(t *testing.T) {
	var nilObj *rawjson.Object
	b, err := nilObj.MarshalJSON()
	errorIs(t, err, nil)
	equal(t, "nil MarshalJSON", string(b), "{}")
	equal(t, "nil Len", nilObj.Len(), 0)
	equal(t, "nil Has", nilObj.Has("a"), false)
	equal(t, "nil Keys", len(nilObj.Keys()), 0)
	equal(t, "nil Clone", string(nilObj.Clone().AppendJSON(nil)), "{}")
	b, err = (&rawjson.Object{}).MarshalJSON()
	errorIs(t, err, nil)
	equal(t, "empty MarshalJSON", string(b), "{}")

	type envelope struct {
		Meta *rawjson.Object `json:"meta"`
		Val  rawjson.Object  `json:"val"`
	}
	in := `{"meta":{"z":1.50,"a":"\u2028<b>","z":2},"val":{"k":[1E+2]}}`
	var env envelope
	errorIs(t, json.Unmarshal([]byte(in), &env), nil)
	equal(t, "meta keys", strings.Join(env.Meta.Keys(), ","), "z,a")
	out, err := rawjson.Marshal(&env) // MarshalJSON has a pointer receiver
	errorIs(t, err, nil)
	equal(t, "round trip", string(out), "{\"meta\":{\"z\":2,\"a\":\"\u2028<b>\"},\"val\":{\"k\":[1E+2]}}")

	env.Val.SetString("keep", "me")
	errorIs(t, json.Unmarshal([]byte(`{"val":null}`), &env), nil)
	equal(t, "null leaves Object unchanged", env.Val.Has("keep"), true)

	errorIs(t, json.Unmarshal([]byte(`{"meta":[1]}`), &env), rawjson.ErrInvalid)
	errorIs(t, env.Val.UnmarshalJSON([]byte(`"x"`)), rawjson.ErrInvalid)
}

func TestForm(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", `{}`},
		{"simple", "text=hi&sender=x", `{"text":"hi","sender":"x"}`},
		{"order of first appearance, last value wins", "b=1&a=2&b=3&c=4&a=5", `{"b":"3","a":"5","c":"4"}`},
		{"plus and escapes", "msg=hello+world%21&k%20ey=%E2%82%AC%2B&x=a%26b%3Dc", `{"msg":"hello world!","k ey":"€+","x":"a&b=c"}`},
		{"malformed escapes are kept as sent", "a=1&b=%zz&c=%2&d=4&%g=5", `{"a":"1","b":"%zz","c":"%2","d":"4","%g":"5"}`},
		{"a lone percent is a value too", "a=1&a=%", `{"a":"%"}`},
		{"no equals sign", "flag&x=", `{"flag":"","x":""}`},
		{"empty pairs", "&&a=1&&", `{"a":"1"}`},
		{"semicolon is an ordinary character", "a=1;b=2&c=3", `{"a":"1;b=2","c":"3"}`},
		{"empty key", "=v", `{"":"v"}`},
		{"equals in value", "a=b=c", `{"a":"b=c"}`},
		{"values are strings", "n=42&t=true", `{"n":"42","t":"true"}`},
		{"escaping in output", "q=%22%5C%0A%3C", `{"q":"\"\\\n<"}`},
		{"invalid UTF-8", "k%FF=v%FE", "{\"k\ufffd\":\"v\ufffd\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rawjson.Form(tt.in).MarshalJSON()
			errorIs(t, err, nil)
			equal(t, "Form", string(got), tt.want)
		})
	}
	o := rawjson.Form("a=1&b=2")
	s, ok := o.GetString("b")
	equal(t, "GetString", s+fmt.Sprint(ok), "2true")
}

func TestMarshal(t *testing.T) {
	o := rawjson.Form("a=%3Cb%3E")
	out, err := rawjson.Marshal(map[string]any{"html": "<&>", "obj": o, "raw": json.RawMessage(`"\u2028"`)})
	errorIs(t, err, nil)
	equal(t, "Marshal", string(out), `{"html":"<&>","obj":{"a":"<b>"},"raw":"\u2028"}`)
	_, err = rawjson.Marshal(make(chan int))
	if err == nil {
		t.Error("Marshal(chan) succeeded")
	}
}

func TestCompactAllocs(t *testing.T) {
	in, err := os.ReadFile("testdata/github_issue_comment.json")
	errorIs(t, err, nil)
	checkCompact(t, in)
	small := []byte(`{"text": "hi", "sender": {"name": "x", "tags": ["a", "b"]}, "n": 1.50}`)
	tests := []struct {
		name string
		in   []byte
		max  float64
	}{
		// Only the output buffer.
		{"small objects", small, 1},
		// Plus the key stacks for objects with more than 16 members ("repository" has 17).
		{"GitHub payload", in, 3},
	}
	for _, tt := range tests {
		n := testing.AllocsPerRun(100, func() { _, _ = rawjson.Compact(tt.in) })
		if n > tt.max {
			t.Errorf("%s: Compact allocates %v times per call, want at most %v", tt.name, n, tt.max)
		}
	}
}

func BenchmarkCompact(b *testing.B) {
	in, err := os.ReadFile("testdata/github_issue_comment.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rawjson.Compact(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompactDuplicates(b *testing.B) {
	in, err := os.ReadFile("testdata/github_issue_comment.json")
	if err != nil {
		b.Fatal(err)
	}
	in = append(in[:len(in)-2], `,"action":"edited"}`...)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rawjson.Compact(in); err != nil {
			b.Fatal(err)
		}
	}
}
