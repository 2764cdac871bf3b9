package bench

import (
	"context"
	"fmt"
)

// Preflight asks the target for each endpoint the run needs, harmlessly
// (a login, a seat map, deliberately invalid holds and bookings), and names
// every one that is missing: it answers 404, 405, 501 or 503 where a
// working endpoint would answer otherwise.
func Preflight(ctx context.Context, cfg Config) ([]string, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := newClient(cfg.Target, 2, newRecorder())
	absent := func(st int) bool { return st == 404 || st == 405 || st == 501 || st == 503 }
	var missing []string
	res, err := c.do(ctx, "preflight", "POST", "/auth/login", "", map[string]string{"email": cfg.Setup.Email(0), "password": cfg.Setup.Password})
	if err != nil {
		return nil, fmt.Errorf("%s unreachable: %w", cfg.Target, err)
	}
	token := ""
	if res.status != 200 {
		missing = append(missing, fmt.Sprintf("POST /api/v1/auth/login for a bench buyer answers %d (want 200): %.200s", res.status, res.body))
	} else {
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = res.decode(&out)
		token = out.AccessToken
	}
	event := cfg.Setup.Events[0].String()
	res, err = c.do(ctx, "preflight", "GET", "/events/"+event+"/seats", token, nil)
	if err != nil {
		return nil, err
	}
	if res.status != 200 {
		missing = append(missing, fmt.Sprintf("GET /api/v1/events/%s/seats answers %d (want 200): %.200s", event, res.status, res.body))
	} else if seats, err := decodeSeats(res.body); err != nil || len(seats) == 0 {
		missing = append(missing, fmt.Sprintf("GET /api/v1/events/%s/seats: no seats in %.200s", event, res.body))
	}
	if cfg.Scenario == "browse" || token == "" {
		return missing, nil
	}
	res, err = c.do(ctx, "preflight", "POST", "/events/"+event+"/holds", token, map[string]any{"seat_ids": []string{}})
	if err != nil {
		return nil, err
	}
	if absent(res.status) {
		missing = append(missing, fmt.Sprintf("POST /api/v1/events/{id}/holds answers %d to an empty hold (want 422): %.200s", res.status, res.body))
	}
	res, err = c.do(ctx, "preflight", "POST", "/bookings", token, map[string]any{})
	if err != nil {
		return nil, err
	}
	if absent(res.status) {
		missing = append(missing, fmt.Sprintf("POST /api/v1/bookings answers %d to an empty booking (want 400/422): %.200s", res.status, res.body))
	}
	return missing, nil
}
