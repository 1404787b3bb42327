package runners

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeHTTP is the Run of a runner that is a web server (rest,
// unsubscribe): it serves handler on addr, with the read timeout given,
// says it is ready once it listens, and when ctx ends lets the requests in
// progress finish within most of stopTimeout (the master's stop_timeout):
// each write they make is one transaction, so one cut short changed
// nothing.
func ServeHTTP(ctx context.Context, addr string, handler http.Handler, readTimeout, stopTimeout time.Duration, log *slog.Logger, ready func(), logArgs ...any) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", append([]any{"listen", ln.Addr().String()}, logArgs...)...)
	ready()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), stopTimeout*8/10)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
