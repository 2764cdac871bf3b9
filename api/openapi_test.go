package api_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/evently/evently/api"
	"github.com/evently/evently/evtest/apptest"
)

// The router and the OpenAPI document agree route by route and method by
// method, both ways: a handler nobody documented, or a documented operation
// nothing serves, fails here rather than in a client.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	documented := documentedOperations(t, a.Do("GET", "/openapi.yaml", "", nil).Body)
	served := servedOperations(t, a.Server.Handler())
	if len(served) < 30 {
		t.Fatalf("walked only %d operations: is the router walked at all?", len(served))
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.yaml", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is in openapi.yaml but the router does not serve it", op)
		}
	}
}

// documentedOperations reads "METHOD /path" for every operation in the
// document, parsed as YAML (a text search would accept a path that only
// appears in a description).
func documentedOperations(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	var d struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	ops := map[string]bool{}
	for path, item := range d.Paths {
		for key := range item {
			// Path items also hold parameters, summary, servers and $ref.
			switch key {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops[strings.ToUpper(key)+" "+normalRoute(path)] = true
			}
		}
	}
	return ops
}

// servedOperations walks the router for "METHOD /route".
func servedOperations(t *testing.T, h http.Handler) map[string]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatal("the handler is not a chi router")
	}
	ops := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = normalRoute(route)
		if !api.BesideTheAPI(route) {
			ops[method+" "+route] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// chiParam is a chi path parameter with a pattern, {id:[0-9]+}, up to the
// segment's last brace: the pattern may hold braces ({8}), never a slash.
var chiParam = regexp.MustCompile(`\{([^{}:/]+):[^/]*\}`)

// normalRoute drops a trailing slash (chi's subrouter roots end in one) and
// parameter patterns, so chi's {id} and OpenAPI's {id} compare as strings.
func normalRoute(route string) string {
	route = chiParam.ReplaceAllString(route, "{$1}")
	if len(route) > 1 {
		route = strings.TrimSuffix(route, "/")
	}
	return route
}

func TestNormalRoute(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"/api/v1/events/{id}", "/api/v1/events/{id}"},
		{"/api/v1/events/{id}/", "/api/v1/events/{id}"},
		{"/api/v1/events/{id:[0-9a-f-]+}/seats", "/api/v1/events/{id}/seats"},
		{"/api/v1/events/{id:[0-9a-f]{8}-[0-9a-f]{4}}/seats/{n:[0-9]{2}}", "/api/v1/events/{id}/seats/{n}"},
		{"/", "/"},
	} {
		if got := normalRoute(tt.in); got != tt.want {
			t.Errorf("normalRoute(%q) = %q, want %q", tt.in, got, tt.want)
		}
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

// Statuses every operation of a kind can answer are documented on each:
// 503 on every /api/v1 operation (each area answers it when unwired or its
// dependency is down), 401 on every one that needs a token.
func TestOpenAPIDocumentsCommonStatuses(t *testing.T) {
	t.Parallel()
	var d struct {
		// Nodes: a path item's parameters are a list, its operations maps.
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	for path, item := range d.Paths {
		for method, node := range item {
			if method == "parameters" || !strings.HasPrefix(path, "/api/v1/") {
				continue
			}
			var op struct {
				Security  []any          `yaml:"security"`
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			for _, want := range []struct {
				status string
				when   bool
			}{{"503", true}, {"401", len(op.Security) > 0}} {
				if _, ok := op.Responses[want.status]; want.when && !ok {
					t.Errorf("%s %s does not document %s", strings.ToUpper(method), path, want.status)
				}
			}
		}
	}
}

// Request bodies are decoded strictly (api/json.go): an empty body and an
// unknown field at any depth are 400. So every JSON body is required but
// where the handler reads none when empty, and every object in it is
// closed; otherwise the document calls valid what the code refuses.
func TestOpenAPIRequestBodiesAreStrict(t *testing.T) {
	t.Parallel()
	// cancel reads a body only when one is sent (reason is optional).
	optional := map[string]bool{"POST /api/v1/bookings/{id}/cancel": true}
	var d struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var open func(at string, s any) []string
	open = func(at string, s any) []string {
		m, _ := s.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			return open(at+"->"+name, d.Components.Schemas[name])
		}
		var found []string
		props, _ := m["properties"].(map[string]any)
		if (m["type"] == "object" || props != nil) && m["additionalProperties"] != false {
			found = append(found, at)
		}
		for k, v := range props {
			found = append(found, open(at+"."+k, v)...)
		}
		if items, ok := m["items"]; ok {
			found = append(found, open(at+"[]", items)...)
		}
		return found
	}
	bodies := 0
	for path, item := range d.Paths {
		for method, v := range item {
			op, _ := v.(map[string]any)
			body, ok := op["requestBody"].(map[string]any)
			if !ok {
				continue
			}
			bodies++
			name := strings.ToUpper(method) + " " + path
			if body["required"] != true && !optional[name] {
				t.Errorf("%s: the body is not required, but an empty one is 400", name)
			}
			content, _ := body["content"].(map[string]any)
			media, ok := content["application/json"].(map[string]any)
			if !ok {
				continue
			}
			for _, at := range open("body", media["schema"]) {
				t.Errorf("%s: %s allows other properties, but an unknown field is 400", name, at)
			}
		}
	}
	if bodies < 15 {
		t.Fatalf("found only %d request bodies: is the document read at all?", bodies)
	}
}
