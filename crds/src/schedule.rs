//! Cron schedules, in the dialect Kubernetes CronJobs accept.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The `@` shortcuts a CronJob accepts.
const MACROS: &str = "@(yearly|annually|monthly|weekly|daily|midnight|hourly)";

/// One cron field: a comma-separated list of `*`, `N` or `N-M`, each with an optional `/step`.
fn cron_field(value: &str) -> String {
    let item = format!(r"(\*|{value}(-{value})?)(/[1-9][0-9]*)?");
    format!("{item}(,{item})*")
}

/// Pattern of [`CronSchedule`]: five fields (minute, hour, day of month, month, day of week) with
/// their value ranges, or an `@` shortcut. Month and weekday names are upper case.
pub static CRON_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let minute = cron_field("[0-5]?[0-9]");
    let hour = cron_field("([01]?[0-9]|2[0-3])");
    let day_of_month = format!(r"(\?|{})", cron_field("(0?[1-9]|[12][0-9]|3[01])"));
    let month = cron_field("(0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)");
    let day_of_week = format!(
        r"(\?|{})",
        cron_field("([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT)")
    );
    format!("^({MACROS}|{minute} +{hour} +{day_of_month} +{month} +{day_of_week})$")
});

/// A cron schedule such as `30 2 * * *` or `@daily`, evaluated in the policy's `timeZone`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CronSchedule(String);

impl CronSchedule {
    /// Wraps a value; the API server checks it against [`CRON_PATTERN`].
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value as written, ready for a CronJob's `spec.schedule`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CronSchedule {
    /// Once a day, at midnight in the policy's time zone.
    fn default() -> Self {
        Self::new("@daily")
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for CronSchedule {
    fn schema_name() -> Cow<'static, str> {
        "CronSchedule".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": CRON_PATTERN.as_str(),
            "maxLength": 128,
        })
    }
}
