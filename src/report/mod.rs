//! Telling: the same findings as text for a person, JSON for scripts, JUnit for CI.

pub mod explain;
pub mod json;
pub mod junit;
pub mod observe;
pub mod plan;
pub mod profiles;
pub mod style;
pub mod text;

use crate::audit::Finding;
use crate::host::Snapshot;
use crate::profile::Severity;

/// What every renderer gets.
pub struct AuditReport<'a> {
    pub snapshot: &'a Snapshot,
    pub profiles: &'a [String],
    pub findings: &'a [Finding],
    pub fail_on: Severity,
}
