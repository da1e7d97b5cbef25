//! `RetentionPolicy`: how long an instance keeps its audit log, and when old rows are removed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::InstanceRef;
use crate::duration::RetentionPeriod;
use crate::pattern;
use crate::schedule::CronSchedule;

/// Desired audit log retention of one AlexandriaInstance.
// Clippy reads the repeated `type_ = ...` of separate printcolumn(...) entries as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "alexandria.io",
    version = "v1alpha1",
    kind = "RetentionPolicy",
    plural = "retentionpolicies",
    singular = "retentionpolicy",
    shortname = "arp",
    category = "alexandria",
    namespaced,
    status = "RetentionPolicyStatus",
    derive = "PartialEq",
    doc = "Audit log retention of an AlexandriaInstance, enforced by a CronJob the operator manages.",
    printcolumn(
        name = "Instance",
        type_ = "string",
        json_path = ".spec.instanceRef.name",
        description = "AlexandriaInstance the policy applies to"
    ),
    printcolumn(
        name = "Retain",
        type_ = "string",
        json_path = ".spec.retain",
        description = "How long audit rows are kept"
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".spec.mode",
        description = "Partition or Delete"
    ),
    printcolumn(
        name = "Last-Success",
        type_ = "date",
        json_path = ".status.lastSuccessfulTime",
        description = "When the last run succeeded"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Status of the Ready condition"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicySpec {
    /// AlexandriaInstance (same namespace) whose audit log this policy prunes.
    pub instance_ref: InstanceRef,
    /// How long audit rows are kept: whole days (`365d`) or hours/minutes/seconds (`36h`); at
    /// least one day.
    pub retain: RetentionPeriod,
    /// How expired rows are removed.
    #[serde(default)]
    pub mode: RetentionMode,
    /// When the retention job runs: five cron fields or an `@` shortcut; daily by default.
    #[serde(default)]
    pub schedule: CronSchedule,
    /// IANA time zone the schedule is read in.
    #[serde(default = "default_time_zone")]
    #[schemars(length(min = 1, max = 64), pattern(pattern::TIME_ZONE))]
    pub time_zone: String,
    /// Pause the job without deleting the policy; expired rows then accumulate.
    #[serde(default)]
    pub suspend: bool,
    /// Partitions created ahead of time in `Partition` mode, so inserts never wait for one.
    #[serde(default = "default_premake_partitions")]
    #[schemars(range(min = 1, max = 366))]
    pub premake_partitions: i32,
}

fn default_time_zone() -> String {
    "Etc/UTC".into()
}

fn default_premake_partitions() -> i32 {
    3
}

/// How expired audit rows are removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RetentionMode {
    /// Drop whole time partitions older than `retain` (fast, no table bloat).
    #[default]
    Partition,
    /// Delete expired rows in batches (for databases without partitioning).
    Delete,
}

/// Observed state of a RetentionPolicy, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicyStatus {
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing and Degraded; one entry per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// When the retention job last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When the retention job last completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// Name of the CronJob running the retention job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_job_name: Option<String>,
    /// Cut-off of the last successful run: rows older than this were removed, and the audit
    /// chain is verified from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_anchor: Option<Time>,
}
