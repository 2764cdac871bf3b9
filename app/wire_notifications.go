package app

import (
	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// wireNotifications gives the API the inbox and its live stream (the
// notifier worker writes and publishes; docs/notifications.md).
func wireNotifications(d *Deps, c Config, s *api.Server) error {
	s.Notifications = &store.Inbox{DB: d.DB, Redis: d.Redis, Keys: d.Keys}
	return nil
}
