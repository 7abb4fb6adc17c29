package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaos-relay/relay/storage/seal"
)

// Sealing as every backend does it (PROTOCOL §11.3), under the associated
// data of export.go, so that sealed values move between backends unopened.

// MemberSecretPrefix starts the name of a channel secret that holds one of
// the channel's secret metadata members (IsSecretMember): "meta:webhookSecret".
const MemberSecretPrefix = "meta:"

// SealPublicKey seals a session's public key, bound to the session.
func SealPublicKey(key *seal.RootKey, userID string, pk PublicKey) ([]byte, error) {
	raw, err := json.Marshal(pk)
	if err != nil {
		return nil, err
	}
	return seal.Seal(key, UserKeyAAD(userID), raw)
}

// OpenPublicKey opens what SealPublicKey sealed.
func OpenPublicKey(key *seal.RootKey, userID string, sealed []byte) (*PublicKey, error) {
	raw, err := seal.Open(key, UserKeyAAD(userID), sealed)
	if err != nil {
		return nil, err
	}
	pk := new(PublicKey)
	return pk, json.Unmarshal(raw, pk)
}

// SealMembers splits a channel's metadata as SplitSecrets does and seals each
// secret member's value as the channel secret MemberSecretPrefix+member. It
// returns the metadata to store (null in place of each secret member) and the
// sealed values by secret name.
func SealMembers(key *seal.RootKey, channelID string, meta json.RawMessage) (json.RawMessage, map[string][]byte, error) {
	public, members, err := SplitSecrets(meta)
	if err != nil {
		return nil, nil, err
	}
	sealed := make(map[string][]byte, len(members))
	for _, member := range slices.Sorted(maps.Keys(members)) {
		name := MemberSecretPrefix + member
		v, err := seal.Seal(key, ChannelSecretAAD(channelID, name), members[member])
		if err != nil {
			return nil, nil, err
		}
		sealed[name] = v
	}
	return public, sealed, nil
}

// OpenMembers puts a channel's sealed metadata members back into the
// metadata SealMembers returned. secrets holds the channel's sealed secrets by
// name; those that are not members are left alone.
func OpenMembers(key *seal.RootKey, channelID string, public json.RawMessage, secrets map[string][]byte) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	for name, v := range secrets {
		member, ok := strings.CutPrefix(name, MemberSecretPrefix)
		if !ok {
			continue
		}
		plain, err := seal.Open(key, ChannelSecretAAD(channelID, name), v)
		if err != nil {
			return nil, fmt.Errorf("open metadata member %s of channel %s: %w", member, channelID, err)
		}
		if members == nil {
			members = map[string]json.RawMessage{}
		}
		members[member] = plain
	}
	return JoinSecrets(public, members)
}

// ErrForeignKey: an imported sealed value was sealed under another root key
// than the store's.
var ErrForeignKey = errors.New("storage: sealed under another root key: import with the root key the store was exported with")

// CheckSealedBy checks that an imported sealed value (what, for the error)
// was sealed under key, so that the store can open it.
func CheckSealedBy(key *seal.RootKey, what string, v []byte) error {
	id, err := seal.KeyID(v)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if id != key.ID() {
		return fmt.Errorf("%s: %w", what, ErrForeignKey)
	}
	return nil
}
