//! Metrics, traces and logs.

pub mod metrics;
pub mod telemetry;
