package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// routeKey carries the matched route pattern from instrument to the inner
// middleware, so the mux is consulted once per request.
type routeKey struct{}

// routeOf returns the request's route pattern, "" when no route matched.
func routeOf(r *http.Request) string {
	p, _ := r.Context().Value(routeKey{}).(string)
	return p
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument is the outermost middleware: it finds the route pattern, then
// logs and counts the request when it is done.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, route := s.mux.Load().Handler(r)
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, route))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			label := route
			if label == "" {
				label = "unmatched"
			}
			s.metrics.observe(label, status, d)
			level := slog.LevelInfo
			if status >= 500 && status != http.StatusNotImplemented {
				level = slog.LevelWarn
			}
			s.log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method),
				slog.String("route", label),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", d),
				slog.Int64("bytes", sw.bytes),
				slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverPanics turns a handler panic into a 500 and logs it with the stack.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic in handler", "method", r.Method, "route", routeOf(r),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // the response has started; nothing better to send
			}
			writeError(w, http.StatusInternalServerError, "InternalError", "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// cors adds CORS headers for allowed origins and answers preflights.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(s.cfg.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !anyOrigin && !slices.Contains(s.cfg.CORSOrigins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			} else {
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Chroma-Token, X-Sextant-Embedding-Model")
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// openRoutes need no API key.
var openRoutes = map[string]bool{
	"GET /api/v2/heartbeat": true,
	"GET /api/v2":           true,
	"GET /api/v2/{$}":       true,
	"GET /healthz":          true,
	"GET /readyz":           true,
}

// isWrite reports whether a request to route with method changes data.
// Reads by POST (get, query, search, conditional get, admin explain) are not
// writes; an on-demand recall measurement and auto_ef are.
func isWrite(method, route string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if route == "" {
		return false // no route: the mux answers 404/405, nothing is written
	}
	_, path, _ := strings.Cut(route, " ")
	for _, suffix := range []string{"/get", "/query", "/search", "/explain"} {
		if strings.HasSuffix(path, suffix) {
			return false
		}
	}
	return true
}

// authenticate enforces Config.APIKeys.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if len(s.cfg.APIKeys) == 0 {
		return next
	}
	keys := make([][]byte, len(s.cfg.APIKeys))
	for i, k := range s.cfg.APIKeys {
		keys[i] = []byte(k.Token)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeOf(r)
		if openRoutes[route] {
			next.ServeHTTP(w, r)
			return
		}
		tok := r.Header.Get("X-Chroma-Token")
		if tok == "" {
			if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
				tok = strings.TrimSpace(a[7:])
			}
		}
		key := -1
		if tok != "" {
			for i, k := range keys {
				// Compare against every key, in constant time each.
				if subtle.ConstantTimeCompare([]byte(tok), k) == 1 {
					key = i
				}
			}
		}
		if key < 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sextant"`)
			writeError(w, http.StatusUnauthorized, "ChromaError",
				"missing or invalid API key: send it in the x-chroma-token header or as Authorization: Bearer <key>")
			return
		}
		if s.cfg.APIKeys[key].ReadOnly && isWrite(r.Method, route) {
			writeError(w, http.StatusForbidden, "ChromaError", "this API key is read-only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies at Config.MaxBodyBytes. A request over the
// limit gets 413 in Chroma's error shape, whatever the handler answered
// after its read failed.
func (s *Server) limitBody(next http.Handler) http.Handler {
	limit := s.cfg.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeTooLarge(w, limit)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		lw := &limitWriter{ResponseWriter: w, limit: limit}
		lr := &limitReader{rc: http.MaxBytesReader(w, r.Body, limit), lw: lw}
		r.Body = lr
		next.ServeHTTP(lw, r)
	})
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	writeError(w, http.StatusRequestEntityTooLarge, "ChromaError",
		fmt.Sprintf("request body larger than the limit of %d bytes (--max-body-bytes)", limit))
}

// limitReader notes in its limitWriter when the body went over the limit.
type limitReader struct {
	rc io.ReadCloser
	lw *limitWriter
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.rc.Read(p)
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		l.lw.tripped = true
	}
	return n, err
}

func (l *limitReader) Close() error { return l.rc.Close() }

// limitWriter replaces the handler's response with a 413 once the body
// limit tripped.
type limitWriter struct {
	http.ResponseWriter
	limit   int64
	tripped bool
	wrote   bool // the response was decided (413 or the handler's)
	swallow bool // the 413 was sent: drop the handler's body
}

func (w *limitWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if w.tripped {
		w.swallow = true
		writeTooLarge(w.ResponseWriter, w.limit)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *limitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
