//! Prometheus metrics of the audit log.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

/// Counters and histograms of appends and verifications.
#[derive(Clone)]
pub struct AuditMetrics {
    appends: IntCounterVec,
    append_seconds: Histogram,
    batch_events: Histogram,
    verifications: IntCounterVec,
}

impl Default for AuditMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditMetrics {
    /// Unregistered metrics (tests, CLI).
    pub fn new() -> Self {
        let appends = IntCounterVec::new(
            Opts::new(
                "alexandria_audit_appends_total",
                "Audit events appended, by result.",
            ),
            &["result"],
        )
        .expect("valid metric definition");
        let append_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "alexandria_audit_append_duration_seconds",
                "Time from record() to the commit of its row.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
        )
        .expect("valid metric definition");
        let batch_events = Histogram::with_opts(
            HistogramOpts::new(
                "alexandria_audit_batch_events",
                "Events committed per audit transaction.",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
            ]),
        )
        .expect("valid metric definition");
        let verifications = IntCounterVec::new(
            Opts::new(
                "alexandria_audit_verifications_total",
                "Chain verifications, by result.",
            ),
            &["result"],
        )
        .expect("valid metric definition");
        Self {
            appends,
            append_seconds,
            batch_events,
            verifications,
        }
    }

    /// Registers every metric with `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.appends.clone()))?;
        registry.register(Box::new(self.append_seconds.clone()))?;
        registry.register(Box::new(self.batch_events.clone()))?;
        registry.register(Box::new(self.verifications.clone()))?;
        Ok(())
    }

    pub(crate) fn observe_append(&self, elapsed: Duration, ok: bool) {
        self.appends
            .with_label_values(&[if ok { "committed" } else { "failed" }])
            .inc();
        if ok {
            self.append_seconds.observe(elapsed.as_secs_f64());
        }
    }

    pub(crate) fn observe_batch(&self, events: usize) {
        self.batch_events.observe(events as f64);
    }

    /// Counts one verification by outcome (`verified`, `failed`, `error`).
    pub fn observe_verification(&self, outcome: &str) {
        self.verifications.with_label_values(&[outcome]).inc();
    }
}
