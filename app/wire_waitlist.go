package app

import (
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// WaitlistConfig configures the waitlist and its promoter.
type WaitlistConfig struct {
	// OfferTTL is how long a party may book the seats it is offered.
	OfferTTL time.Duration `env:"EVENTLY_WAITLIST_OFFER_TTL" envDefault:"10m"`
	// Sweep is how often the promoter looks for offers that expired, were
	// declined or were booked.
	Sweep time.Duration `env:"EVENTLY_WAITLIST_SWEEP" envDefault:"1s"`
	// RemindBefore is how long before an offer ends its party is reminded
	// (waitlist.offer_expiring); offers shorter than twice this are
	// reminded half way.
	RemindBefore time.Duration `env:"EVENTLY_WAITLIST_REMIND_BEFORE" envDefault:"2m"`
}

func wireWaitlist(d *Deps, c Config, s *api.Server) error {
	s.Waitlist = &store.Waitlist{DB: d.DB, Redis: d.Redis, Keys: d.Keys, OfferTTL: c.Waitlist.OfferTTL}
	return nil
}
