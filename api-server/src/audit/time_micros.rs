//! Timestamps as integer microseconds since the Unix epoch, UTC: Postgres' precision and the
//! form that is MACed.

use time::OffsetDateTime;

/// Microseconds since the epoch (sub-microsecond digits dropped).
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The UTC instant `micros` microseconds after the epoch.
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
