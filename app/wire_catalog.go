package app

import (
	"errors"
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// CatalogConfig configures venues, events and seat maps.
type CatalogConfig struct {
	// SeatMapTTL bounds how stale a served seat map may be (see
	// docs/catalog.md); 0 reads PostgreSQL and Redis on every request.
	SeatMapTTL time.Duration `env:"EVENTLY_SEATMAP_TTL" envDefault:"1s"`
	// SeatMapCacheBytes bounds the memory of cached seat maps per process.
	SeatMapCacheBytes int64 `env:"EVENTLY_SEATMAP_CACHE_BYTES" envDefault:"67108864"`
	// PopularWindow is how far back GET /events/popular counts bookings.
	PopularWindow time.Duration `env:"EVENTLY_POPULAR_WINDOW" envDefault:"168h"`
}

func wireCatalog(d *Deps, c Config, s *api.Server) error {
	if c.Catalog.SeatMapTTL < 0 || c.Catalog.SeatMapTTL > time.Minute {
		return errors.New("EVENTLY_SEATMAP_TTL must be between 0s and 1m")
	}
	if c.Catalog.SeatMapCacheBytes < 1<<20 || c.Catalog.SeatMapCacheBytes > 16<<30 {
		return errors.New("EVENTLY_SEATMAP_CACHE_BYTES must be between 1048576 (1 MiB) and 17179869184 (16 GiB)")
	}
	if c.Catalog.PopularWindow < time.Hour {
		return errors.New("EVENTLY_POPULAR_WINDOW must be at least 1h")
	}
	// Keep the hook the booking area may have set (wiring order is not ours).
	hook := s.Catalog.OnEventCancelled
	s.Catalog = api.CatalogDeps{
		Venues:            &store.Venues{DB: d.DB},
		Events:            &store.Events{DB: d.DB},
		SeatMaps:          &store.SeatMaps{DB: d.DB, Redis: d.Redis, Keys: d.Keys},
		SeatMapTTL:        c.Catalog.SeatMapTTL,
		SeatMapCacheBytes: c.Catalog.SeatMapCacheBytes,
		PopularWindow:     c.Catalog.PopularWindow,
		OnEventCancelled:  hook,
	}
	return nil
}
