package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server timeouts. Reading a request (headers and a body of at most 1 MiB)
// and writing an answer (a seat map of a few MB, compressed) each get
// generous bounds, so slow or stalled clients cannot pin connections
// forever; streams lift the read and write deadlines for themselves (see
// streams.go). Idle keep-alive connections close after IdleTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

// drainKey carries, in every request's context, a context that Serve
// cancels when draining starts: stream routes end on it at once.
type drainKey struct{}

// Serve serves h on addr until ctx ends, then drains in-flight requests for
// up to drain before closing. onDrain, when set, runs as draining starts
// (to end requests that would otherwise hang).
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, drain time.Duration, onDrain func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeListener(ctx, log, ln, h, drain, onDrain)
}

// ServeListener is Serve on a listener the caller opened.
func ServeListener(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, drain time.Duration, onDrain func()) error {
	draining, startDrain := context.WithCancel(context.Background())
	defer startDrain()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), drainKey{}, draining)
		}}
	addr := ln.Addr().String()
	log.Info("listening", "addr", "http://"+addr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "addr", addr, "timeout", drain.String())
	startDrain()
	if onDrain != nil {
		onDrain()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
