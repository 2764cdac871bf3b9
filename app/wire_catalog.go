package app

import "github.com/evently/evently/api"

// CatalogConfig configures venues, events and seat maps.
type CatalogConfig struct{}

func wireCatalog(d *Deps, c Config, s *api.Server) error { return nil }
