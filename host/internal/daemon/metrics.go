package daemon

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Metric names. Task durations are the run on the plugin; waits are from
// the call's arrival to its processor and locks being granted.
//
//	sealhost_tasks_started_total{stage,processor}
//	sealhost_tasks_finished_total{stage,processor}        succeeded
//	sealhost_tasks_failed_total{stage,processor,reason}   reason: plugin_error, plugin_died, timeout, cancelled
//	sealhost_task_duration_seconds{stage,processor}       histogram
//	sealhost_task_wait_seconds{stage}                     histogram, every task
//	sealhost_lock_wait_seconds{stage}                     histogram, tasks on processors with locks
//	sealhost_lock_hold_seconds{stage}                     histogram, tasks on processors with locks
//	sealhost_tasks_waiting{stage}                         gauge: queue length
//	sealhost_tasks_running{stage}                         gauge
//	sealhost_tasks_preempted_total{stage,processor}       runs preempted for urgent tasks, then requeued
//	sealhost_preempted_work_seconds_total{stage}          run time those preempted runs lost
//	sealhost_plugin_restarts_total{processor}
//	sealhost_plugin_oom_kills_total{processor}            plugins ended by the kernel's OOM killer
//	sealhost_processor_state{processor,state}             1 for the current state, 0 for the others
//	sealhost_processor_confined{processor}                1 when the plugin runs in a cgroup
type metrics struct {
	reg      *prometheus.Registry
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	failed   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
	lockWait *prometheus.HistogramVec
	lockHold *prometheus.HistogramVec
	waiting  *prometheus.GaugeVec
	running  *prometheus.GaugeVec
	ooms     *prometheus.CounterVec

	preempted     *prometheus.CounterVec
	preemptedWork *prometheus.CounterVec

	// The series every task touches, looked up once (a vector's lookup
	// hashes and checks its labels each time); read-only after
	// newMetrics.
	stages map[config.Stage]*stageSeries
	procs  map[string]*procSeries
}

type stageSeries struct {
	waiting, running         prometheus.Gauge
	wait, lockWait, lockHold prometheus.Observer
}

type procSeries struct {
	started, finished prometheus.Counter
	duration          prometheus.Observer
}

// Sealing stages run from seconds (tree_d of small sectors, the mock) to
// hours (pc1 of 64 GiB).
var durationBuckets = prometheus.ExponentialBuckets(0.01, 4, 12) // 10 ms … ~14 h

func newMetrics(h *Host) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_tasks_started_total", Help: "Tasks that got a processor and started.",
		}, []string{"stage", "processor"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_tasks_finished_total", Help: "Tasks that finished successfully.",
		}, []string{"stage", "processor"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_tasks_failed_total", Help: "Tasks that started and failed, by reason.",
		}, []string{"stage", "processor", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealhost_task_duration_seconds", Help: "Run time of tasks on their processor.", Buckets: durationBuckets,
		}, []string{"stage", "processor"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealhost_task_wait_seconds", Help: "Time from a task's arrival until it got a processor (and its locks).", Buckets: durationBuckets,
		}, []string{"stage"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealhost_lock_wait_seconds", Help: "Wait of tasks whose processor takes locks, until processor and locks were granted.", Buckets: durationBuckets,
		}, []string{"stage"}),
		lockHold: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealhost_lock_hold_seconds", Help: "How long tasks held their processor's locks.", Buckets: durationBuckets,
		}, []string{"stage"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sealhost_tasks_waiting", Help: "Tasks waiting for a processor, per stage.",
		}, []string{"stage"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sealhost_tasks_running", Help: "Tasks running, per stage.",
		}, []string{"stage"}),
		ooms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_plugin_oom_kills_total", Help: "Plugin processes ended by the kernel's OOM killer in their cgroup.",
		}, []string{"processor"}),
		preempted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_tasks_preempted_total", Help: "Task runs preempted for an urgent task (arbiter preempt), then requeued.",
		}, []string{"stage", "processor"}),
		preemptedWork: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealhost_preempted_work_seconds_total", Help: "Run time lost by preempted task runs.",
		}, []string{"stage"}),
	}
	m.reg.MustRegister(m.started, m.finished, m.failed, m.duration, m.wait, m.lockWait, m.lockHold, m.waiting, m.running, m.ooms, m.preempted, m.preemptedWork,
		&procCollector{h: h},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.stages = map[config.Stage]*stageSeries{}
	m.procs = map[string]*procSeries{}
	for _, p := range h.cfg.Processors {
		// Every series a dashboard or an alert reads exists from the
		// start, at zero: rate() over a series born at its first failure
		// misses that failure, and "absent" cannot tell a quiet stage
		// from a broken scrape.
		st := string(p.Stage)
		ss := m.stages[p.Stage]
		if ss == nil {
			ss = &stageSeries{waiting: m.waiting.WithLabelValues(st), running: m.running.WithLabelValues(st), wait: m.wait.WithLabelValues(st)}
			m.stages[p.Stage] = ss
		}
		m.procs[p.ID] = &procSeries{started: m.started.WithLabelValues(st, p.ID), finished: m.finished.WithLabelValues(st, p.ID), duration: m.duration.WithLabelValues(st, p.ID)}
		for _, r := range failReasons {
			m.failed.WithLabelValues(st, p.ID, r)
		}
		if len(p.Locks) > 0 && ss.lockWait == nil {
			ss.lockWait, ss.lockHold = m.lockWait.WithLabelValues(st), m.lockHold.WithLabelValues(st)
		}
		m.ooms.WithLabelValues(p.ID)
		// at zero even without preemption configured: a dashboard's
		// panel reads "none", not "no data"
		m.preempted.WithLabelValues(st, p.ID)
		m.preemptedWork.WithLabelValues(st)
	}
	return m
}

// taskPreempted ends a run preempted for an urgent task: it is neither
// finished nor failed, and runs again.
func (m *metrics) taskPreempted(t *task, ran time.Duration, locks bool, processor string) {
	s := m.stage(t.stage)
	s.running.Dec()
	if locks {
		m.observeHold(t.stage, s, ran)
	}
	m.preempted.WithLabelValues(string(t.stage), processor).Inc()
	m.preemptedWork.WithLabelValues(string(t.stage)).Add(ran.Seconds())
}

// stage is a stage's series, made by newMetrics for every stage of the
// config.
func (m *metrics) stage(stage config.Stage) *stageSeries {
	if s := m.stages[stage]; s != nil {
		return s
	}
	st := string(stage)
	return &stageSeries{waiting: m.waiting.WithLabelValues(st), running: m.running.WithLabelValues(st), wait: m.wait.WithLabelValues(st)}
}

// proc is a processor's series, as stage is.
func (m *metrics) proc(stage config.Stage, id string) *procSeries {
	if p := m.procs[id]; p != nil {
		return p
	}
	st := string(stage)
	return &procSeries{started: m.started.WithLabelValues(st, id), finished: m.finished.WithLabelValues(st, id), duration: m.duration.WithLabelValues(st, id)}
}

func (m *metrics) taskStarted(t *task, locks bool) {
	s := m.stage(t.stage)
	m.proc(t.stage, t.processor).started.Inc()
	s.running.Inc()
	s.wait.Observe(t.waited.Seconds())
	if locks {
		o := s.lockWait
		if o == nil {
			o = m.lockWait.WithLabelValues(string(t.stage))
		}
		o.Observe(t.waited.Seconds())
	}
}

func (m *metrics) taskEnded(t *task, ran time.Duration, locks bool, err error) {
	s := m.stage(t.stage)
	s.running.Dec()
	p := m.proc(t.stage, t.processor)
	p.duration.Observe(ran.Seconds())
	if locks {
		m.observeHold(t.stage, s, ran)
	}
	if err == nil {
		p.finished.Inc()
		return
	}
	m.failed.WithLabelValues(string(t.stage), t.processor, failReason(err)).Inc()
}

// failReasons are every value failReason returns.
var failReasons = []string{"plugin_error", "plugin_died", "timeout", "cancelled"}

func failReason(err error) string {
	var (
		died    *supervise.DiedError
		exit    *pluginclient.ExitError
		timeout *supervise.TimeoutError
	)
	switch {
	case errors.As(err, &died), errors.As(err, &exit):
		return "plugin_died"
	case errors.As(err, &timeout):
		return "timeout"
	}
	switch status.Code(err) {
	case codes.Canceled:
		return "cancelled"
	}
	if isCtxErr(err) {
		return "cancelled"
	}
	return "plugin_error"
}

// procCollector reads processor state at scrape time, so it is never
// stale.
type procCollector struct{ h *Host }

var (
	stateDesc = prometheus.NewDesc("sealhost_processor_state", "1 for the processor's current state.", []string{"processor", "state"}, nil)
	restDesc  = prometheus.NewDesc("sealhost_plugin_restarts_total", "Plugin restarts of a processor.", []string{"processor"}, nil)
	confDesc  = prometheus.NewDesc("sealhost_processor_confined", "1 when the processor's plugin runs in a cgroup.", []string{"processor"}, nil)
	states    = []supervise.State{supervise.Starting, supervise.Running, supervise.Backoff, supervise.Failed, supervise.Stopped}
)

func (c *procCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- restDesc
	ch <- confDesc
}

func (c *procCollector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range c.h.order {
		s := c.h.procs[id].sp.Status()
		for _, st := range states {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, id, string(st))
		}
		ch <- prometheus.MustNewConstMetric(restDesc, prometheus.CounterValue, float64(s.Restarts), id)
		conf := 0.0
		if s.Confined {
			conf = 1
		}
		ch <- prometheus.MustNewConstMetric(confDesc, prometheus.GaugeValue, conf, id)
	}
}

// serveMetrics listens on addr and serves /metrics.
func (h *Host) serveMetrics(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.m.reg, promhttp.HandlerOpts{Registry: h.m.reg}))
	h.httpLis = l
	h.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := h.httpSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("metrics server stopped", "error", err)
		}
	}()
	return nil
}

// observeHold records how long a task held its processor's locks.
func (m *metrics) observeHold(stage config.Stage, s *stageSeries, held time.Duration) {
	o := s.lockHold
	if o == nil {
		o = m.lockHold.WithLabelValues(string(stage))
	}
	o.Observe(held.Seconds())
}
