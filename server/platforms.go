package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// platforms are the relay's channel types, in registration order.
type platforms struct {
	list   []channels.Platform
	byType map[string]channels.Platform
}

func newPlatforms(list []channels.Platform) (platforms, error) {
	p := platforms{list: list, byType: make(map[string]channels.Platform, len(list))}
	for _, pl := range list {
		if _, dup := p.byType[pl.Type()]; dup {
			return p, errors.New("server: two platforms serve channel type " + pl.Type())
		}
		p.byType[pl.Type()] = pl
	}
	return p, nil
}

// of is the platform of a channel type (nil when none serves it).
func (p platforms) of(typ string) channels.Platform { return p.byType[typ] }

// senders are the platforms that deliver replies, by type.
func (p platforms) senders() map[string]channels.Sender {
	out := map[string]channels.Sender{}
	for _, pl := range p.list {
		if s, ok := pl.(channels.Sender); ok {
			out[pl.Type()] = s
		}
	}
	return out
}

// mountPlatforms adds every platform's routes to e.
func (s *Server) mountPlatforms(e *echo.Echo) {
	h := host{s}
	for _, pl := range s.platforms.list {
		for _, rt := range pl.Routes(h) {
			var mw []echo.MiddlewareFunc
			if rt.Kind == channels.Session {
				mw = append(mw, s.authenticate)
			}
			e.Add(rt.Method, rt.Path, s.platformRoute(pl, rt), mw...)
		}
	}
}

// platformRoute adapts a platform's route: the rate limit, the body, the
// channel of a callback, then the handler's answer or error.
func (s *Server) platformRoute(pl channels.Platform, rt channels.Route) echo.HandlerFunc {
	return func(c *echo.Context) error {
		req := &channels.Request{HTTP: c.Request()}
		var key string
		switch rt.Kind {
		case channels.Session:
			req.User = userOf(c)
			key = req.User.ID
		case channels.Callback:
			key = c.Param("channelId")
		}
		if rt.Limit != "" {
			if err := s.limit(c, rt.Limit, key, rt.LimitText); err != nil {
				if rt.Kind != channels.Session {
					s.metrics.dropped.WithLabelValues(pl.Type(), "rate_limited").Inc()
				}
				return err
			}
		}
		body, err := s.readBody(c)
		if err != nil {
			return err
		}
		req.Body = body
		ctx := c.Request().Context()
		if rt.Kind == channels.Callback {
			if req.Channel, req.Meta, err = s.callbackChannel(ctx, key, pl.Type(), rt.WrongType); err != nil {
				return err
			}
		}
		ans, err := rt.Handle(ctx, req)
		if err != nil {
			return err
		}
		return writeAnswer(c, ans)
	}
}

// callbackChannel finds a platform callback's channel and checks its type.
func (s *Server) callbackChannel(ctx context.Context, id, typ, wrongType string) (storage.Channel, *rawjson.Object, error) {
	ch, err := s.store.Channel(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return ch, nil, newError(http.StatusNotFound, "Unknown channel")
	}
	if err != nil {
		return ch, nil, err
	}
	if ch.Type != typ {
		return ch, nil, badRequest(wrongType)
	}
	meta, err := rawjson.ParseObject(ch.Metadata)
	return ch, meta, err
}

// writeAnswer writes a platform's answer; HEAD gets no body.
func writeAnswer(c *echo.Context, a channels.Answer) error {
	h := c.Response().Header()
	for k, v := range a.Header {
		h[k] = v
	}
	c.Response().WriteHeader(a.Status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err := c.Response().Write(a.Body)
	return err
}

// host is what the server offers its platforms (channels.Host).
type host struct{ s *Server }

var _ channels.Host = host{}

func (h host) Store() storage.Store { return h.s.store }

func (h host) Ingest(ctx context.Context, in channels.Inbound) (storage.Message, error) {
	return h.s.ingest(ctx, in)
}

func (h host) Allow(name ratelimit.Name, key string) bool {
	if _, ok := h.s.limits.Allow(name, key); !ok {
		h.s.metrics.rateLimited.WithLabelValues(string(name)).Inc()
		return false
	}
	return true
}

func (h host) Dropped(channelType, reason string) {
	h.s.metrics.dropped.WithLabelValues(channelType, reason).Inc()
}

func (h host) Background(task func(ctx context.Context)) { h.s.background(backgroundTimeout, task) }

func (h host) PublicOrigin(r *http.Request) string { return h.s.publicOrigin(r) }

func (h host) Now() time.Time { return h.s.now() }

func (h host) Lease(name string) channels.Lease {
	if h.s.cluster == nil {
		return channels.LocalLease{}
	}
	return h.s.cluster.Lease(name)
}
