package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

// SecretBotToken is the sealed secret holding a bot channel's token.
const SecretBotToken = "botToken"

// AddHints appends the channel hints of PROTOCOL §3.7 to inbound metadata,
// as the platform's traits say.
func AddHints(o *rawjson.Object, ch storage.Channel, t Traits) {
	o.SetString("channelDirection", ch.Direction)
	if ch.Name != "" && t.HintName {
		o.SetString("channelName", ch.Name)
	}
	if ch.Prompt != "" && t.HintPrompt {
		o.SetString("channelPrompt", ch.Prompt)
	}
	if ch.AgentID != "" {
		o.SetString("channelAgentId", ch.AgentID)
	}
}

// BotDescription is what the dashboard shows of a bot channel (Telegram,
// Discord): "@botUsername", and its pairing state.
func BotDescription(ch storage.Channel) (label string, details []string) {
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return "", nil
	}
	if name, _ := meta.GetString("botUsername"); name != "" {
		label = "@" + name
	}
	code, _ := meta.Get("pairingCode")
	switch n := len(StringList(meta, "allowedUsers")); {
	case len(code) > 0 && string(code) != "null" && string(code) != `""`:
		details = append(details, "awaiting pairing")
	case n > 0:
		details = append(details, Plural(n, "user"))
	default:
		details = append(details, "locked")
	}
	return label, details
}

// Plural is "1 user", "2 users".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// PairingCode is the first 8 characters of a fresh UUIDv4, upper-cased
// (PROTOCOL §1.4).
func PairingCode() string { return strings.ToUpper(storage.NewID()[:8]) }

// Pair consumes a channel's pairing code for sender, in one transaction
// (PROTOCOL §4.3 Pairing): the sender joins allowedUsers and the code is
// gone. paired is false when another update used the code first.
func Pair(ctx context.Context, st storage.Store, channelID, code, sender string) (paired bool, err error) {
	_, err = st.UpdateChannel(ctx, channelID, func(ch *storage.Channel) error {
		paired = false
		meta, err := rawjson.ParseObject(ch.Metadata)
		if err != nil {
			return err
		}
		if current, _ := meta.GetString("pairingCode"); current != code {
			return nil
		}
		users := StringList(meta, "allowedUsers")
		if !slices.Contains(users, sender) {
			users = append(users, sender)
		}
		list, _ := rawjson.Marshal(users)
		meta.Set("allowedUsers", list)
		meta.Delete("pairingCode")
		ch.Metadata, err = meta.MarshalJSON()
		paired = true
		return err
	})
	return paired, err
}

// AllowedUsers is the channel's allowlist; when sender is not on it, the
// allowlist as the store has it now, so that a pairing made through another
// node a moment ago is honoured (a refusal costs that read; an admitted
// sender costs nothing).
func AllowedUsers(ctx context.Context, st storage.Store, ch storage.Channel, meta *rawjson.Object, sender string) []string {
	users := StringList(meta, "allowedUsers")
	if sender == "" || slices.Contains(users, sender) {
		return users
	}
	cur, err := st.CurrentChannel(ctx, ch.ID)
	if err != nil {
		return users
	}
	now, err := rawjson.ParseObject(cur.Metadata)
	if err != nil {
		return users
	}
	return StringList(now, "allowedUsers")
}

// StringList reads a metadata array of strings (other elements are skipped).
func StringList(meta *rawjson.Object, key string) []string {
	raw, ok := meta.Get(key)
	if !ok {
		return nil
	}
	var items []any
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ContainsFold reports whether list holds v, ignoring case.
func ContainsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
}

// DecodeObject parses body as one JSON object into v, numbers as
// json.Number. Anything else (invalid JSON, trailing data, null, arrays,
// scalars) is ErrInvalidJSON.
func DecodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return ErrInvalidJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return ErrInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrInvalidJSON
	}
	return nil
}

// BotRegistration reads a bot register body (PROTOCOL §4.3, §4.4): a
// non-empty string botToken and an optional agentId.
func BotRegistration(body []byte, prefix string) (token, agentID string, err error) {
	var f map[string]json.RawMessage
	if DecodeObject(body, &f) != nil {
		return "", "", BadRequest(prefix + "Invalid JSON body")
	}
	if json.Unmarshal(f["botToken"], &token) != nil || token == "" {
		return "", "", BadRequest("Missing or invalid botToken")
	}
	_ = json.Unmarshal(f["agentId"], &agentID)
	return token, agentID, nil
}

// ScalarText is a metadata member as text: a string, or a number's literal.
// Falsy values (absent, null, false, 0, "") give "".
func ScalarText(o *rawjson.Object, key string) string {
	raw, ok := o.Get(key)
	if !ok || IsFalsy(raw) {
		return ""
	}
	if s, ok := o.GetString(key); ok {
		return s
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return NumberText(string(raw))
	}
	return ""
}

// IsFalsy reports a JSON value that JavaScript treats as false (or absent).
func IsFalsy(raw json.RawMessage) bool {
	switch v := string(bytes.TrimSpace(raw)); v {
	case "", "null", "false", `""`:
		return true
	default:
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			f, err := n.Float64()
			return err == nil && f == 0
		}
		return false
	}
}

// NumberText renders a JSON number as JavaScript's String(n) would for the
// values clients send: integers keep their exact digits, others use the
// shortest representation.
func NumberText(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return lit
	}
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1e-07 → JavaScript writes 1e-7
	mant, exp, _ := strings.Cut(s, "e")
	sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + digits
}

// FirstNonEmpty is the first non-empty string of vs.
func FirstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// StoreOnly is a channel type the relay stores and polls but does not
// deliver to (Slack: its replies are only stored).
type StoreOnly string

var _ Platform = StoreOnly("")

// Type implements Platform.
func (s StoreOnly) Type() string { return string(s) }

// Traits implements Platform.
func (StoreOnly) Traits() Traits { return Traits{Direction: storage.DirectionBidirectional} }

// Routes implements Platform: none.
func (StoreOnly) Routes(Host) []Route { return nil }

// Plan implements Platform: replies are only stored.
func (StoreOnly) Plan(storage.ChannelView, *rawjson.Object) storage.Delivery {
	return storage.Delivery{Status: storage.StatusStored}
}
