//! Logs and traces: a `tracing` subscriber that writes log lines (to stderr in the binary) and
//! feeds OpenTelemetry. Trace ids exist even with export off, so every request's log lines name
//! its `trace_id`; with `otlp.endpoint` set, spans go to `<endpoint>/v1/traces` and log
//! records to `<endpoint>/v1/logs` over OTLP/HTTP (protobuf), batched on background threads.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::OtlpConfig;
use crate::error::Error;

/// The installed providers; [`Telemetry::shutdown`] flushes what is still batched.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    logger_provider: Option<SdkLoggerProvider>,
}

impl Telemetry {
    /// Exports everything batched so far.
    pub fn flush(&self) {
        if let Err(e) = self.tracer_provider.force_flush() {
            eprintln!("otlp: flushing spans failed: {e}");
        }
        if let Some(logs) = &self.logger_provider
            && let Err(e) = logs.force_flush()
        {
            eprintln!("otlp: flushing logs failed: {e}");
        }
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        self.flush();
        let _ = self.tracer_provider.shutdown();
        if let Some(logs) = self.logger_provider {
            let _ = logs.shutdown();
        }
    }
}

fn otlp_error(e: impl std::fmt::Display) -> Error {
    Error::Config {
        field: "otlp.endpoint".into(),
        message: format!("cannot set up the OTLP exporter: {e}"),
    }
}

fn signal_url(endpoint: &url::Url, signal: &str) -> String {
    format!("{}/v1/{signal}", endpoint.as_str().trim_end_matches('/'))
}

/// Installs the global subscriber: log lines to `writer` (coloured when `ansi`) filtered by
/// `RUST_LOG` (else `default_filter`), spans and logs to OTLP when `otlp` is set.
pub fn init<W>(
    otlp: Option<&OtlpConfig>,
    writer: W,
    ansi: bool,
    default_filter: &str,
) -> Result<Telemetry, Error>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let service_name = otlp.map_or("alexandria-api", |o| o.service_name.as_str());
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut logger_provider = None;
    if let Some(otlp) = otlp {
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(signal_url(&otlp.endpoint, "traces"))
            .build()
            .map_err(otlp_error)?;
        tracer_builder = tracer_builder.with_batch_exporter(spans);
        let logs = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_endpoint(signal_url(&otlp.endpoint, "logs"))
            .build()
            .map_err(otlp_error)?;
        logger_provider = Some(
            SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(logs)
                .build(),
        );
    }
    let tracer_provider = tracer_builder.build();
    let tracer = tracer_provider.tracer("alexandria-api");

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    // The exporters' own HTTP client logs must not be exported again (a feedback loop).
    let log_bridge = logger_provider.as_ref().map(|provider| {
        OpenTelemetryTracingBridge::new(provider).with_filter(
            tracing_subscriber::filter::filter_fn(|meta| {
                let target = meta.target();
                !(target.starts_with("opentelemetry")
                    || target.starts_with("reqwest")
                    || target.starts_with("hyper"))
            }),
        )
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(writer),
        )
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(log_bridge)
        .try_init()
        .map_err(|e| Error::InvalidRequest(format!("a tracing subscriber is already set: {e}")))?;
    Ok(Telemetry {
        tracer_provider,
        logger_provider,
    })
}

/// Trace id of the current span, if OpenTelemetry is tracing it.
pub fn current_trace_id() -> Option<String> {
    trace_id_of(&Span::current())
}

fn trace_id_of(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

struct HeaderCarrier<'a>(&'a HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one request: method, route template, and its trace id (continuing a W3C
/// `traceparent` the caller sent).
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(super::metrics::UNMATCHED_ROUTE, |p| p.as_str());
    // ERROR level so the span (and its trace_id) exists whenever any log line is enabled:
    // with RUST_LOG=warn an INFO span would be filtered out and WARN lines lose the trace id.
    // A span is context only; it prints no line of its own.
    let span = tracing::error_span!(
        "request",
        method = %request.method(),
        route = %route,
        trace_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderCarrier(request.headers()));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    if let Some(trace_id) = trace_id_of(&span) {
        span.record("trace_id", tracing::field::display(&trace_id));
    }
    span
}
