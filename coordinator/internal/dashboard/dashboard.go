// Package dashboard owns `coordinator serve`: a read-only web dashboard
// of the jobs in the control table. It lists every export and restore,
// and shows one job as a grid of its segments coloured by state, a
// throughput chart against the read-capacity cap, the ETA and, once
// COMPLETED, the manifest summary. The HTML pages and the JSON under
// /api/ are built from the same values, and the pages refresh themselves
// from that JSON while a job runs.
//
// Everything it serves is embedded in the binary (no CDN, works offline,
// nothing to deploy beside it), and it never writes: the only methods it
// answers are GET and HEAD. It reads through a Source, which the
// coordinator implements over the control table.
package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// handler serves the dashboard.
type handler struct {
	src   Source
	log   *zap.Logger
	now   func() time.Time
	pages *template.Template
	mux   *http.ServeMux
}

// New returns the dashboard's handler. clock stamps what a page shows
// (elapsed time, ETA); nil means time.Now.
func New(src Source, log *zap.Logger, clock func() time.Time) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	if clock == nil {
		clock = time.Now
	}
	h := &handler{
		src: src, log: log, now: clock,
		// The templates are compiled into the binary: failing to parse
		// them is a build defect the unit tests catch, not a run-time
		// condition.
		pages: template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")),
		mux:   http.NewServeMux(),
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	h.mux.HandleFunc("GET /{$}", h.listPage)
	h.mux.HandleFunc("GET /jobs/{id}", h.jobPage)
	h.mux.HandleFunc("GET /api/jobs", h.listAPI)
	h.mux.HandleFunc("GET /api/jobs/{id}", h.jobAPI)
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Small files, and a new binary may bring new ones: always revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	return h
}

// ServeHTTP refuses every method that could change something before
// routing, so no route added later can become writable by accident.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// The pages show table names, buckets and error messages: keep them
	// out of frames, referrers and anything not served from here.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, fmt.Sprintf("method %s not allowed: the dashboard is read-only (GET and HEAD only)", r.Method), http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	// Liveness of the process only: a health check every few seconds must
	// not read the control table.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (h *handler) listAPI(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.src.Jobs(r.Context())
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	h.writeJSON(w, http.StatusOK, sortJobs(jobs))
}

func (h *handler) jobAPI(w http.ResponseWriter, r *http.Request) {
	v, err := h.view(r)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	h.writeJSON(w, http.StatusOK, v)
}

// listPageData is what templates/list.html renders.
type listPageData struct {
	Jobs       []Job
	ObservedAt time.Time
	AnyRunning bool
}

func (h *handler) listPage(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.src.Jobs(r.Context())
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	d := listPageData{Jobs: sortJobs(jobs), ObservedAt: h.now()}
	for _, j := range d.Jobs {
		if !Terminal(j.State) {
			d.AnyRunning = true
		}
	}
	h.render(w, http.StatusOK, "list.html", d)
}

func (h *handler) jobPage(w http.ResponseWriter, r *http.Request) {
	v, err := h.view(r)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	h.render(w, http.StatusOK, "job.html", v)
}

func (h *handler) view(r *http.Request) (JobView, error) {
	id := r.PathValue("id")
	d, err := h.src.Job(r.Context(), id)
	if err != nil {
		return JobView{}, err
	}
	if len(d.ManifestSummary) > 0 && !json.Valid(d.ManifestSummary) {
		h.log.Warn("manifest summary is not valid JSON; not shown", zap.String("exportId", id))
	}
	return newView(d, h.now()), nil
}

// notFound is a 404 with the id that was asked for, so a mistyped or
// expired id is told apart from a broken dashboard.
type notFound struct{ id string }

func (e notFound) Error() string {
	return fmt.Sprintf("no export or restore with id %q in the control table (finished jobs expire by TTL)", e.id)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, asJSON bool, err error) {
	status, msg := http.StatusInternalServerError, "reading the control table failed: "+err.Error()
	if errors.Is(err, ErrNotFound) {
		status, msg = http.StatusNotFound, notFound{r.PathValue("id")}.Error()
	} else {
		h.log.Error("dashboard request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	if asJSON {
		h.writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	h.render(w, status, "error.html", errorPageData{Status: status, StatusText: http.StatusText(status), Message: msg})
}

type errorPageData struct {
	Status     int
	StatusText string
	Message    string
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		h.log.Error("encode dashboard JSON", zap.Error(err))
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// render executes into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (h *handler) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, name, data); err != nil {
		h.log.Error("render dashboard page", zap.String("template", name), zap.Error(err))
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
