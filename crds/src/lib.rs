//! Custom resource types of the Alexandria EE platform (group `alexandria.io`, version
//! `v1alpha1`).
//!
//! This crate holds only the types (spec, status, conditions) and their generated schemas; the
//! operator renders and reconciles them. [`all_crds`] returns the three CustomResourceDefinitions
//! and [`crd_files`] their YAML as committed under `crds/`.

pub mod condition;
pub mod duration;
pub mod instance;
mod manifest;
pub mod network_isolation;
pub mod pattern;
pub mod retention;
pub mod schedule;
pub mod secret;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::instance::{AlexandriaInstance, AlexandriaInstanceSpec, AlexandriaInstanceStatus};
pub use crate::manifest::{all_crds, crd_files, crd_yaml, crds_yaml_stream};
pub use crate::network_isolation::{
    NetworkIsolation, NetworkIsolationSpec, NetworkIsolationStatus,
};
pub use crate::retention::{RetentionPolicy, RetentionPolicySpec, RetentionPolicyStatus};
pub use crate::secret::SecretKeyRef;

/// API group of every Alexandria custom resource.
pub const GROUP: &str = "alexandria.io";
/// API version of the custom resources.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get alexandria` lists all three kinds.
pub const CATEGORY: &str = "alexandria";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duration does not follow its grammar.
    #[error("invalid duration {value:?}: expected e.g. 15m, 1h30m or 90s (retain also takes 365d)")]
    InvalidDuration {
        /// The value as written.
        value: String,
    },
    /// A retention period is shorter than one day.
    #[error("retention period {value:?} is shorter than 1 day")]
    RetentionTooShort {
        /// The value as written.
        value: String,
    },
    /// A CRD could not be serialised to YAML.
    #[error("serialising CRD {name} to YAML failed")]
    Yaml {
        /// The CRD's name.
        name: String,
        /// What serde_yaml reported.
        #[source]
        source: serde_yaml::Error,
    },
}

/// The AlexandriaInstance a RetentionPolicy or NetworkIsolation applies to, in its own namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    /// Name of the AlexandriaInstance.
    #[schemars(length(min = 1, max = 253), pattern(pattern::OBJECT_NAME))]
    pub name: String,
}
