package api

import "github.com/go-chi/chi/v5"

// AuthDeps are the identity area's services.
type AuthDeps struct{}

// mountAuth mounts accounts, tokens and admin routes.
func (s *Server) mountAuth(r chi.Router) {}
