package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently"
)

// PipelineStatus reports the consumer groups' lag per partition, read from
// the broker (so it covers every worker process, not only this one).
type PipelineStatus func(ctx context.Context) (any, error)

// mountPipeline mounts the operators' view of the pipeline.
func (s *Server) mountPipeline(r chi.Router) {
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
