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
	undocumented := map[string]bool{"/openapi.yaml": true, "/docs": true, "/docs/redoc.standalone.js": true, "/debug/*": true}
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

// /docs renders from assets in the binary: nothing is loaded from a CDN.
func TestDocsNeedNoCDN(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	page := a.Do("GET", "/docs", "", nil)
	if page.Status != 200 || strings.Contains(string(page.Body), "https://") || !strings.Contains(string(page.Body), `src="/docs/redoc.standalone.js"`) {
		t.Fatalf("docs page: %d %s", page.Status, page.Body)
	}
	js := a.Do("GET", "/docs/redoc.standalone.js", "", nil)
	if js.Status != 200 || len(js.Body) < 500_000 || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("renderer: %d, %d bytes, %q", js.Status, len(js.Body), js.Header.Get("Content-Type"))
	}
}
