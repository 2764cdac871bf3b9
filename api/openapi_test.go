package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently/evtest/apptest"
)

// Every route the router serves is in the OpenAPI document, so the
// contract cannot silently fall behind the code.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	doc := string(a.Do("GET", "/openapi.yaml", "", nil).Body)
	routes, ok := a.Server.Handler().(chi.Routes)
	if !ok {
		t.Fatal("the handler is not a chi router")
	}
	undocumented := map[string]bool{"/openapi.yaml": true, "/docs": true, "/debug/*": true}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/")
		if undocumented[route] || route == "" {
			return nil
		}
		if !strings.Contains(doc, "\n  "+route+":") {
			t.Errorf("%s %s is not in openapi.yaml", method, route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
