package app

import (
	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// wireAnalytics gives the API the sales figures, which the workers keep in
// their own transactions (docs/analytics.md); the API only reads them.
func wireAnalytics(d *Deps, c Config, s *api.Server) error {
	s.Analytics = &store.Analytics{DB: d.DB, Redis: d.Redis, Keys: d.Keys}
	return nil
}
