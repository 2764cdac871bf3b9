package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently"
)

// webAssets is the browser front end: web/'s TypeScript bundled by esbuild
// (deploy/web-build.sh) and committed here, so go build and go test need no
// npm and the binary serves the app with no other server and no CDN.
//
//go:embed assets/web
var webAssets embed.FS

// webFile is one embedded asset, read once at start.
type webFile struct {
	body        []byte
	contentType string
	etag        string
}

// webFiles maps the names under assets/web to their content.
var webFiles = func() map[string]webFile {
	files := map[string]webFile{}
	err := fs.WalkDir(webAssets, "assets/web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webAssets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files[p[len("assets/web/"):]] = webFile{b, ct, `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // embedded at build time: cannot fail at run time
	}
	return files
}()

// webCSP lets the app load only its own script and style and talk only to
// this origin: the tokens in localStorage are worth stealing, so no inline
// script, no third-party code and no framing.
const webCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// mountWeb serves the single-page app: index.html at / and its assets under
// /app/. The app routes with the URL fragment (#/events/…), so no other
// path needs index.html and unknown paths stay 404s.
func mountWeb(r chi.Router) {
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { serveWebFile(w, r, "index.html") })
	r.Get("/app/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if name == "index.html" {
			http.Redirect(w, r, "/", http.StatusMovedPermanently)
			return
		}
		serveWebFile(w, r, name)
	})
}

func serveWebFile(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := webFiles[name]
	if !ok {
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "No such resource: %s.", r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	// Names carry no content hash, so browsers revalidate every time; the
	// ETag makes that a 304 without a body.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if name == "index.html" {
		h.Set("Content-Security-Policy", webCSP)
	}
	if catalogETagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}
