package jetstream

import (
	"errors"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// errCreds does not repeat the parser's error, which may quote the file.
var errCreds = errors.New("not a NATS user credentials file (a JWT and an nkey seed)")

// credsOption reads the contents of a NATS .creds file into the option
// that authenticates with it. Contents rather than a path, so that the
// credentials can come from a secret mount or the environment alike.
func credsOption(contents []byte) (nats.Option, error) {
	token, err := jwt.ParseDecoratedJWT(contents)
	if err != nil {
		return nil, errCreds
	}
	kp, err := jwt.ParseDecoratedUserNKey(contents)
	if err != nil {
		return nil, errCreds
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, errCreds
	}
	return nats.UserJWTAndSeed(token, string(seed)), nil
}

// CheckCreds reports whether contents are a NATS user credentials file.
func CheckCreds(contents []byte) error {
	_, err := credsOption(contents)
	return err
}
