//! The server's Prometheus registry: HTTP requests by route and status, authentication
//! failures by reason, lockouts, authorisation decisions, the audit log's own metrics and the
//! process collector. Served as text on `GET /metrics`.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::audit::AuditMetrics;
use crate::error::Error;

/// Route label of requests that matched no route (keeps label cardinality bounded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Handles to every metric, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    auth_failures: IntCounterVec,
    lockouts: IntCounterVec,
    authz_decisions: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn metric_error(e: prometheus::Error) -> Error {
    Error::InvalidRequest(format!("metrics registry: {e}"))
}

impl Metrics {
    /// A fresh registry with every server metric registered.
    pub fn new() -> Result<Self, Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "alexandria_http_requests_total",
                "HTTP requests served, by method, route template and status.",
            ),
            &["method", "route", "status"],
        )
        .map_err(metric_error)?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "alexandria_http_request_duration_seconds",
                "Time to produce the response, by method, route template and status.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )
        .map_err(metric_error)?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "alexandria_auth_failures_total",
                "Refused logins and tokens, by reason.",
            ),
            &["reason"],
        )
        .map_err(metric_error)?;
        let lockouts = IntCounterVec::new(
            Opts::new(
                "alexandria_auth_lockouts_total",
                "Locks started by repeated login failures, by scope (user or ip).",
            ),
            &["scope"],
        )
        .map_err(metric_error)?;
        let authz_decisions = IntCounterVec::new(
            Opts::new(
                "alexandria_authz_decisions_total",
                "Tool authorisation decisions, by result (allowed, denied, bypass).",
            ),
            &["result"],
        )
        .map_err(metric_error)?;
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(auth_failures.clone()),
            Box::new(lockouts.clone()),
            Box::new(authz_decisions.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector).map_err(metric_error)?;
        }
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            auth_failures,
            lockouts,
            authz_decisions,
        })
    }

    /// Registers the audit log's metrics in this registry.
    pub fn register_audit(&self, audit: &AuditMetrics) -> Result<(), Error> {
        audit.register(&self.registry).map_err(metric_error)
    }

    /// The registry (to add more collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one refused login or token.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    /// Counts one lock started.
    pub fn lockout(&self, scope: &str) {
        self.lockouts.with_label_values(&[scope]).inc();
    }

    /// Counts one tool authorisation decision.
    pub fn authz_decision(&self, result: &str) {
        self.authz_decisions.with_label_values(&[result]).inc();
    }

    /// Counts one request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Middleware: times each request, counts it by route template and status, and names the
/// request's trace id in an `x-trace-id` response header.
pub async fn track(
    axum::extract::State(metrics): axum::extract::State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    if let Some(trace_id) = super::telemetry::current_trace_id()
        && let Ok(value) = HeaderValue::from_str(&trace_id)
    {
        response.headers_mut().insert("x-trace-id", value);
    }
    response
}
