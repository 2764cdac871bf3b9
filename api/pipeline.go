package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently"
)

// PipelineStatus reports the consumer groups' lag per partition, read from
// the broker (so it covers every worker process, not only this one).
type PipelineStatus func(ctx context.Context) (any, error)

// ReplayDLQ moves up to max dead letters of a topic back onto it and says
// how many it moved.
type ReplayDLQ func(ctx context.Context, topic string, max int) (int, error)

// mountPipeline mounts the operators' view of the pipeline.
func (s *Server) mountPipeline(r chi.Router) {
	r.With(requireRole(evently.RoleAdmin)).Post("/admin/dlq/{topic}/replay", s.replayDLQ)
	r.With(requireRole(evently.RoleAdmin)).Get("/admin/pipeline", func(w http.ResponseWriter, r *http.Request) {
		if s.Pipeline == nil {
			Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, Message: "Pipeline status is not available on this instance.", RetryAfter: 5})
			return
		}
		st, err := s.Pipeline(r.Context())
		if err != nil {
			Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, Message: "The broker did not answer; try again shortly.", RetryAfter: 2})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
}

func (s *Server) replayDLQ(w http.ResponseWriter, r *http.Request) {
	if s.Replay == nil {
		Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, Message: "Replays are not available on this instance.", RetryAfter: 5})
		return
	}
	max := 100
	if v := r.URL.Query().Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			Error(w, r, evently.Invalid(map[string]string{"max": "Use a number from 1 to 10000."}))
			return
		}
		max = n
	}
	topic := chi.URLParam(r, "topic")
	n, err := s.Replay(r.Context(), topic, max)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.Logger.InfoContext(r.Context(), "dead letters replayed", "topic", topic, "count", n, "by", actor(r).UserID, traceAttr(r))
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "replayed": n})
}
