// Package metrics is the one home of Prometheus in framewise: the
// registry, what the other packages report to it, and the /metrics
// handler. Every method works on a nil *Metrics (and does nothing), so
// that a package runs the same with and without metrics.
//
// Labels are bounded: routes are ServeMux patterns (never raw paths),
// backends are the configured profile names, runs and job kinds are
// constants. No label carries an id, an account or a key.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one server process.
type Metrics struct {
	reg         *prometheus.Registry
	http        *prometheus.HistogramVec
	jobs        *prometheus.HistogramVec
	modelCalls  *prometheus.HistogramVec
	modelTokens *prometheus.CounterVec
	ffmpeg      *prometheus.HistogramVec
}

// New returns the collectors, registered with the Go runtime's and the
// process's own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.http = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "framewise_http_request_duration_seconds", Help: "HTTP requests by route pattern, method and status class.",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "status"})
	m.jobs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "framewise_job_duration_seconds", Help: "Queue jobs by kind and outcome (done, retry, failed, canceled).",
		Buckets: prometheus.ExponentialBuckets(0.05, 3, 12),
	}, []string{"kind", "outcome"})
	m.modelCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "framewise_model_call_duration_seconds", Help: "Calls to model backends by profile and outcome (ok or error).",
		Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
	}, []string{"backend", "outcome"})
	m.modelTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "framewise_model_tokens_total", Help: "Tokens reported by model backends, by profile and direction (input, output).",
	}, []string{"backend", "direction"})
	m.ffmpeg = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "framewise_ffmpeg_run_duration_seconds", Help: "Heavy FFmpeg runs (decoding, sampling) by kind.",
		Buckets: prometheus.ExponentialBuckets(0.05, 3, 12),
	}, []string{"run"})
	m.reg.MustRegister(m.http, m.jobs, m.modelCalls, m.modelTokens, m.ffmpeg,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// HTTP records one request. route is the ServeMux pattern that served it
// ("" when none matched).
func (m *Metrics) HTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.http.WithLabelValues(route, method, strconv.Itoa(status/100)+"xx").Observe(d.Seconds())
}

// Job records one run of a queue job.
func (m *Metrics) Job(kind, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(kind, outcome).Observe(d.Seconds())
}

// ModelCall records one call to a model backend (after its retries) and
// the tokens it reported.
func (m *Metrics) ModelCall(backend string, err error, d time.Duration, inputTokens, outputTokens int) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.modelCalls.WithLabelValues(backend, outcome).Observe(d.Seconds())
	if inputTokens > 0 {
		m.modelTokens.WithLabelValues(backend, "input").Add(float64(inputTokens))
	}
	if outputTokens > 0 {
		m.modelTokens.WithLabelValues(backend, "output").Add(float64(outputTokens))
	}
}

// FFmpeg records one heavy FFmpeg run.
func (m *Metrics) FFmpeg(run string, d time.Duration) {
	if m == nil {
		return
	}
	m.ffmpeg.WithLabelValues(run).Observe(d.Seconds())
}

// State is what the gauges read at each scrape: tasks by status, and the
// queue's jobs waiting to run with the age of the oldest.
type State struct {
	Tasks           map[string]int
	QueuedJobs      int
	OldestQueuedAge time.Duration
}

// Gauges registers gauges read from read at each scrape (bounded by a
// 5 s timeout; a failed read reports nothing for that scrape).
func (m *Metrics) Gauges(read func(ctx context.Context) (State, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&stateCollector{read: read})
}

var (
	tasksDesc  = prometheus.NewDesc("framewise_tasks", "Tasks stored, by status.", []string{"status"}, nil)
	queuedDesc = prometheus.NewDesc("framewise_queue_jobs_waiting", "Jobs waiting to run (available or scheduled to retry).", nil, nil)
	ageDesc    = prometheus.NewDesc("framewise_queue_oldest_waiting_seconds", "Age of the oldest job waiting to run.", nil, nil)
)

type stateCollector struct {
	read func(ctx context.Context) (State, error)
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- queuedDesc
	ch <- ageDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.read(ctx)
	if err != nil {
		return
	}
	for status, n := range s.Tasks {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(s.QueuedJobs))
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, s.OldestQueuedAge.Seconds())
}
