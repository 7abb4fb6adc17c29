package discord

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBadSignature is the error of every failed interaction check; its text is the 401 body's.
//
//lint:ignore ST1005 exact protocol text, answered to clients
var ErrBadSignature = errors.New("Invalid request signature")

// MaxSkew is how far an interaction's timestamp may be from now (PROTOCOL §4.4).
const MaxSkew = 300 * time.Second

// Interaction types (PROTOCOL §4.4).
const (
	InteractionPing    = 1
	InteractionCommand = 2
)

// Texts of interaction answers (PROTOCOL §4.4) and the gateway's full-inbox notice.
const (
	PongBody    = `{"type":1}`
	Received    = "Received. The agent will reply in this channel."
	Disabled    = "This bot is currently disabled."
	InboxFull   = "Inbox full. Try again later."
	Unsupported = "Unsupported interaction."
)

// VerifyInteraction checks an interaction request (PROTOCOL §4.4): verifyKeyHex must be 64 and
// signatureHex 128 hex digits (either case), timestamp ASCII decimal seconds within ±300 s of now,
// and the signature a valid Ed25519 signature of timestamp+body. Every failure is ErrBadSignature.
func VerifyInteraction(verifyKeyHex, signatureHex, timestamp string, body []byte, now time.Time) error {
	if len(verifyKeyHex) != 2*ed25519.PublicKeySize || len(signatureHex) != 2*ed25519.SignatureSize {
		return ErrBadSignature
	}
	key, err := hex.DecodeString(verifyKeyHex)
	if err != nil {
		return ErrBadSignature
	}
	sig, err := hex.DecodeString(signatureHex)
	if err != nil {
		return ErrBadSignature
	}
	if timestamp == "" || len(timestamp) > 18 || strings.TrimLeft(timestamp, "0123456789") != "" {
		return ErrBadSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Unix() - ts; d > int64(MaxSkew/time.Second) || d < -int64(MaxSkew/time.Second) {
		return ErrBadSignature
	}
	msg := make([]byte, 0, len(timestamp)+len(body))
	msg = append(append(msg, timestamp...), body...)
	if !ed25519.Verify(ed25519.PublicKey(key), msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// Interaction is the part of an interaction the relay uses (PROTOCOL §4.4).
type Interaction struct {
	Type        int
	ID          string // interactionId
	ChannelID   string // discordChannelId
	GuildID     string // "" outside guilds
	UserID      string // sender id: member.user.id, else user.id
	Username    string // member.user.username, else user.username
	CommandName string // data.name
	Content     string // string options' values joined by " ", or "/<name>" when none
}

type wireUser struct {
	ID       json.RawMessage `json:"id"`
	Username string          `json:"username"`
}

type wireOption struct {
	Type    int             `json:"type"`
	Value   json.RawMessage `json:"value"`
	Options []wireOption    `json:"options"`
}

type wireInteraction struct {
	Type      int             `json:"type"`
	ID        json.RawMessage `json:"id"`
	ChannelID json.RawMessage `json:"channel_id"`
	Channel   *struct {
		ID json.RawMessage `json:"id"`
	} `json:"channel"`
	GuildID json.RawMessage `json:"guild_id"`
	Member  *struct {
		User *wireUser `json:"user"`
	} `json:"member"`
	User *wireUser `json:"user"`
	Data *struct {
		Name    string       `json:"name"`
		Options []wireOption `json:"options"`
	} `json:"data"`
}

// Option types that hold options or a string (Discord's application command option types).
const (
	optionSubcommand      = 1
	optionSubcommandGroup = 2
	optionString          = 3
)

// ParseInteraction decodes an interaction body. A body that is not a JSON object, or whose fields
// have unexpected JSON types, gives ErrInvalidJSON. Content is only set for type 2: the values of
// the string options (also those inside subcommands) joined by a single space, or "/<name>".
func ParseInteraction(body []byte) (Interaction, error) {
	var w wireInteraction
	if !isObject(body) || json.Unmarshal(body, &w) != nil {
		return Interaction{}, ErrInvalidJSON
	}
	in := Interaction{
		Type:      w.Type,
		ID:        idString(w.ID),
		ChannelID: idString(w.ChannelID),
		GuildID:   idString(w.GuildID),
	}
	if in.ChannelID == "" && w.Channel != nil {
		in.ChannelID = idString(w.Channel.ID)
	}
	u := w.User
	if w.Member != nil && w.Member.User != nil {
		u = w.Member.User
	}
	if u != nil {
		in.UserID, in.Username = idString(u.ID), u.Username
	}
	if w.Data != nil {
		in.CommandName = w.Data.Name
		if in.Type == InteractionCommand {
			var values []string
			collectStrings(w.Data.Options, &values)
			in.Content = strings.Join(values, " ")
			if len(values) == 0 {
				in.Content = "/" + in.CommandName
			}
		}
	}
	return in, nil
}

// collectStrings appends the values of string options, depth first, entering subcommands.
func collectStrings(opts []wireOption, out *[]string) {
	for _, o := range opts {
		switch o.Type {
		case optionString:
			if v := stringValue(o.Value); v != "" {
				*out = append(*out, v)
			}
		case optionSubcommand, optionSubcommandGroup:
			collectStrings(o.Options, out)
		}
	}
}

// InteractionReply is the ephemeral answer {"type":4,"data":{"content":text,"flags":64}}.
func InteractionReply(text string) []byte {
	b, _ := json.Marshal(struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}{Type: 4, Data: struct {
		Content string `json:"content"`
		Flags   int    `json:"flags"`
	}{text, 64}})
	return b
}
