package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
)

// writeJSON writes v as compact JSON without HTML escaping (PROTOCOL §1.3),
// with Content-Type application/json and no charset. HEAD gets no body.
func writeJSON(c *echo.Context, status int, v any) error {
	b, err := rawjson.Marshal(v)
	if err != nil {
		return err
	}
	return writeRawJSON(c, status, b)
}

func writeRawJSON(c *echo.Context, status int, body []byte) error {
	h := c.Response().Header()
	h.Set("Content-Type", "application/json")
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return nil
	}
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(body)
	return err
}

const ctxBody = "relay.body"

// readBody returns the request body, read once and bounded by the configured
// limit: an oversized body is errTooLarge (413). GET and HEAD have no body.
func (s *Server) readBody(c *echo.Context) ([]byte, error) {
	if b, ok := c.Get(ctxBody).([]byte); ok {
		return b, nil
	}
	r := c.Request()
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil {
		c.Set(ctxBody, []byte{})
		return []byte{}, nil
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, errTooLarge
	}
	b, err := readAll(http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, err
	}
	c.Set(ctxBody, b)
	return b, nil
}

// readAll is io.ReadAll into a buffer sized for a body of size bytes (the
// request's Content-Length, -1 when unknown): a webhook's body is usually far
// smaller than io.ReadAll's first 512 bytes, and sometimes far larger.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	// One byte more, so that the read that meets the end needs no growth.
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // a body longer than announced: let append grow it
		}
	}
}

// readObject reads the body (bounded) and parses it as one JSON object of
// raw members: each route interprets its members itself, so that a member
// of the wrong type gets the route's own error rather than a generic one.
func (s *Server) readObject(c *echo.Context) (map[string]json.RawMessage, error) {
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	var f map[string]json.RawMessage
	return f, decodeObject(body, &f)
}

// decodeObject parses body as one JSON object into v (channels.DecodeObject);
// anything else is errInvalidJSON.
func decodeObject(body []byte, v any) error {
	if channels.DecodeObject(body, v) != nil {
		return errInvalidJSON
	}
	return nil
}
