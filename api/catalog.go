package api

import "github.com/go-chi/chi/v5"

// CatalogDeps are the catalog area's services.
type CatalogDeps struct{}

// mountCatalog mounts venues, events and seat maps.
func (s *Server) mountCatalog(r chi.Router) {}
