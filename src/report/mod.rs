//! Telling: the same findings as text for a person, JSON for scripts, JUnit for CI,
//! Prometheus' text format for monitoring.

pub mod escape;
pub mod explain;
pub mod fleet;
pub mod json;
pub mod junit;
pub mod observe;
pub mod observe_fleet;
pub mod plan;
pub mod profiles;
pub mod prometheus;
pub mod status;
pub mod style;
pub mod text;

use crate::audit::Finding;
use crate::host::Snapshot;
use crate::profile::load::Override;
use crate::profile::Severity;

/// What every renderer gets.
pub struct AuditReport<'a> {
    pub snapshot: &'a Snapshot,
    pub profiles: &'a [String],
    pub findings: &'a [Finding],
    pub fail_on: Severity,
    /// Site profiles that replace built-ins (said in every format).
    pub overrides: &'a [Override],
}

impl AuditReport<'_> {
    /// One sentence per replaced built-in.
    pub fn override_notes(&self) -> Vec<String> {
        self.overrides
            .iter()
            .map(|o| {
                format!(
                    "site profile {} replaces the built-in {}",
                    o.path.display(),
                    o.name
                )
            })
            .collect()
    }
}
