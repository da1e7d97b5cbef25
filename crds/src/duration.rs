//! The two duration grammars of the API.
//!
//! - [`Duration`]: hours, minutes and seconds in that order, each optional, e.g. `15m`, `1h30m`,
//!   `90s`. It is the subset of Go's `time.ParseDuration` that Prometheus and External Secrets
//!   also read, so the operator can pass values through unchanged.
//! - [`RetentionPeriod`]: whole days (`365d`) or a [`Duration`] (`36h`), at least one day.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Pattern of [`Duration`]; the empty string also matches, `minLength` rules it out.
pub const DURATION_PATTERN: &str = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

/// Pattern of [`RetentionPeriod`]; the one-day minimum is a CEL rule. The digit counts are capped
/// so the rule's `int()` and `duration()` cannot overflow (at most 999999 days, about 2700 years).
pub const RETENTION_PATTERN: &str = r"^([0-9]{1,6}d|([0-9]{1,6}h)?([0-9]{1,7}m)?([0-9]{1,9}s)?)$";

/// Most digits per unit in a [`RetentionPeriod`]: days, then hours, minutes, seconds.
const RETENTION_DIGITS: (usize, [usize; 3]) = (6, [6, 7, 9]);

/// CEL rule enforcing the one-day minimum of [`RetentionPeriod`]. A value outside the grammar
/// passes it, so the API server reports only the pattern and `duration()` never fails.
pub const RETENTION_MINIMUM_RULE: &str = "!self.matches('^([0-9]{1,6}d|([0-9]{1,6}h)?([0-9]{1,7}m)?([0-9]{1,9}s)?)$') || (self.endsWith('d') ? int(self.substring(0, size(self) - 1)) >= 1 : duration(self) >= duration('24h'))";

const SECONDS_PER_DAY: u64 = 86_400;

/// A duration such as `15m`, `1h30m` or `90s` (hours, minutes, seconds, in that order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(String);

impl Duration {
    /// Wraps a value; use [`Duration::to_std`] to check and convert it.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Converts to a [`std::time::Duration`], rejecting values outside the grammar.
    pub fn to_std(&self) -> Result<std::time::Duration, Error> {
        parse_hms(&self.0, [usize::MAX; 3])
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| Error::InvalidDuration {
                value: self.0.clone(),
            })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "minLength": 2,
            "maxLength": 32,
        })
    }
}

/// How long audit rows are kept: whole days (`365d`) or hours/minutes/seconds (`36h`); at least
/// one day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetentionPeriod(String);

impl RetentionPeriod {
    /// Wraps a value; use [`RetentionPeriod::to_std`] to check and convert it.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Converts to a [`std::time::Duration`], rejecting values outside the grammar and values
    /// below one day, like the API server does.
    pub fn to_std(&self) -> Result<std::time::Duration, Error> {
        let (max_day_digits, max_hms_digits) = RETENTION_DIGITS;
        let seconds = match self.0.strip_suffix('d') {
            Some(days) if is_digits(days) && days.len() <= max_day_digits => days
                .parse::<u64>()
                .ok()
                .and_then(|d| d.checked_mul(SECONDS_PER_DAY)),
            Some(_) => None,
            None => parse_hms(&self.0, max_hms_digits),
        };
        match seconds {
            Some(s) if s >= SECONDS_PER_DAY => Ok(std::time::Duration::from_secs(s)),
            Some(_) => Err(Error::RetentionTooShort {
                value: self.0.clone(),
            }),
            None => Err(Error::InvalidDuration {
                value: self.0.clone(),
            }),
        }
    }
}

impl fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for RetentionPeriod {
    fn schema_name() -> Cow<'static, str> {
        "RetentionPeriod".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": RETENTION_PATTERN,
            "minLength": 2,
            "maxLength": 32,
            "x-kubernetes-validations": [{
                "rule": RETENTION_MINIMUM_RULE,
                "message": "retain must be at least 1 day (for example 365d or 24h)",
            }],
        })
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Seconds in an `[Nh][Nm][Ns]` value (units in that order, at least one, each with at most
/// `max_digits` digits), or `None`.
fn parse_hms(value: &str, max_digits: [usize; 3]) -> Option<u64> {
    let mut rest = value;
    let mut total: u64 = 0;
    let mut seen_unit = false;
    for ((unit, factor), max) in [('h', 3_600u64), ('m', 60), ('s', 1)]
        .into_iter()
        .zip(max_digits)
    {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(unit) {
            if digits > max {
                return None;
            }
            let n: u64 = rest[..digits].parse().ok()?;
            total = total.checked_add(n.checked_mul(factor)?)?;
            rest = &rest[digits + 1..];
            seen_unit = true;
        }
    }
    (seen_unit && rest.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_reads_hours_minutes_and_seconds_in_order() {
        assert_eq!(Duration::new("15m").to_std().unwrap().as_secs(), 900);
        assert_eq!(Duration::new("1h30m").to_std().unwrap().as_secs(), 5_400);
        assert_eq!(Duration::new("2h0m5s").to_std().unwrap().as_secs(), 7_205);
    }

    #[test]
    fn duration_rejects_other_units_spaces_and_wrong_order() {
        for bad in ["", "15", "1d", "15 m", "30s1m", "1.5h", "m", "15min"] {
            assert!(Duration::new(bad).to_std().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn retention_accepts_days_and_at_least_24_hours() {
        assert_eq!(
            RetentionPeriod::new("365d").to_std().unwrap().as_secs(),
            365 * 86_400
        );
        assert_eq!(
            RetentionPeriod::new("24h").to_std().unwrap().as_secs(),
            86_400
        );
        assert_eq!(
            RetentionPeriod::new("1440m").to_std().unwrap().as_secs(),
            86_400
        );
    }

    #[test]
    fn retention_below_one_day_is_too_short() {
        for short in ["0d", "23h", "12h59m59s", "60s"] {
            assert!(
                matches!(
                    RetentionPeriod::new(short).to_std(),
                    Err(Error::RetentionTooShort { .. })
                ),
                "{short:?}"
            );
        }
    }

    #[test]
    fn retention_rejects_unparsable_values() {
        for bad in ["1y", "d", "365 days", "1d12h", "-1d"] {
            assert!(
                matches!(
                    RetentionPeriod::new(bad).to_std(),
                    Err(Error::InvalidDuration { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
