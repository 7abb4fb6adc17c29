package storage

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// What a copy of a store must not give away (PROTOCOL §11.3): every backend
// seals the values that open a session or authenticate inbound traffic, and
// indexes the reclaim key only by a keyed hash. The helpers below are the
// parts of that the backends share.

// IsSecretMember reports a member of a channel's metadata that authenticates
// its inbound traffic (the webhook token, Telegram's secret_token, Discord's
// forwarded-payload secret) or lets a stranger pair with its bot. Backends
// seal these values at rest and give them back in Channel.Metadata on read.
func IsSecretMember(name string) bool { return name == "webhookSecret" || name == "pairingCode" }

// SplitSecrets returns meta (a JSON object) with the value of every secret
// member replaced by null, and those values by member name. Member order and
// every other byte of meta are kept. Null values are not secrets.
func SplitSecrets(meta json.RawMessage) (json.RawMessage, map[string]json.RawMessage, error) {
	var secrets map[string]json.RawMessage
	out, err := rewriteMembers(meta, func(name string, value json.RawMessage) json.RawMessage {
		if !IsSecretMember(name) || string(value) == "null" {
			return value
		}
		if secrets == nil {
			secrets = map[string]json.RawMessage{}
		}
		secrets[name] = value
		return json.RawMessage("null")
	})
	return out, secrets, err
}

// JoinSecrets puts secret members' values back into meta, where SplitSecrets
// left null.
func JoinSecrets(meta json.RawMessage, secrets map[string]json.RawMessage) (json.RawMessage, error) {
	if len(secrets) == 0 {
		return meta, nil
	}
	return rewriteMembers(meta, func(name string, value json.RawMessage) json.RawMessage {
		if v, ok := secrets[name]; ok && string(value) == "null" {
			return v
		}
		return value
	})
}

// errNotObject: channel metadata is always a JSON object.
var errNotObject = errors.New("storage: channel metadata is not a JSON object")

// rewriteMembers copies the top-level members of a JSON object, with each
// value replaced by fn's answer; keys keep their exact bytes.
func rewriteMembers(obj json.RawMessage, fn func(name string, value json.RawMessage) json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(obj)) == 0 {
		return obj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	out := append(make([]byte, 0, len(obj)), '{')
	for dec.More() {
		start := dec.InputOffset()
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("storage: channel metadata: %w", err)
		}
		name, _ := t.(string)
		key := bytes.TrimLeft(obj[start:dec.InputOffset()], " \t\r\n,")
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("storage: channel metadata: %w", err)
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, key...), ':'), fn(name, value)...)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("storage: channel metadata: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return append(out, '}'), nil
}

// FingerprintHash is the reclaim index key of a public key: an HMAC of its
// fingerprint under a sealed store secret (indexKey), so that a copy of the
// store neither shows the key nor lets anyone test a guess without the root
// key.
func FingerprintHash(indexKey []byte, k PublicKey) []byte {
	m := hmac.New(sha256.New, indexKey)
	m.Write([]byte(k.Fingerprint()))
	return m.Sum(nil)
}
