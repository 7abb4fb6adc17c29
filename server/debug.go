package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugLoop serves net/http/pprof on RELAY_DEBUG_ADDR until ctx is done. It is
// off unless configured and never shares the public listener.
func (s *Server) debugLoop(ctx context.Context) error {
	if s.cfg.DebugAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Addr: s.cfg.DebugAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = hs.Close() })
	defer stop()
	s.log.Info("debug listener (pprof)", "addr", s.cfg.DebugAddr)
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
