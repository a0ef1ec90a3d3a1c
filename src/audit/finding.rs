//! A finding: one checked rule, as the report and the JSON schema show it.

use crate::profile::{Reasons, Severity};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fail,
    Skip,
    Pass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Pass => "pass",
        }
    }
}

/// Why a key could not be read, when it could not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Absence {
    /// The kernel removed the key before this version.
    Removed,
    /// The key arrived after this kernel version.
    NotYetAdded,
    /// A global key, visible only from the host's initial network namespace.
    GlobalHidden,
    /// This kernel should have it, but this namespace does not show it.
    NotVisible,
    /// Not in the catalog and not on this kernel: likely a typo.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: String,
    /// sysctl, relation or nginx.
    pub kind: &'static str,
    pub subject: String,
    pub status: Status,
    pub severity: Severity,
    /// Why it fails (`cause.rs`): findings with one shared cause have one remedy, and
    /// the text report prints them as one block. None for passes and skips.
    pub cause: Option<super::cause::Cause>,
    pub expected: Option<serde_json::Value>,
    pub live: Option<serde_json::Value>,
    /// What the kernel acts as, when it differs from the raw value (tcp_syncookies=3 → 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<serde_json::Value>,
    /// The persisted value and its file (arrives with the persisted-config reader).
    pub persisted: Option<serde_json::Value>,
    pub drift: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<Absence>,
    /// per-netns or global, for sysctl keys in the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
    /// True when a global key was read from inside a child network namespace: the value
    /// is the host's, shared by every namespace.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_wide: bool,
    pub message: String,
    /// Mostly one of a few fixed texts: borrowed, so thousands of findings do not copy it.
    pub explanation: std::borrow::Cow<'static, str>,
    /// The profile that set the rule.
    pub profile: Option<String>,
    pub rationale: Option<std::sync::Arc<str>>,
    pub fact: Option<std::sync::Arc<str>>,
    pub incident: Option<u32>,
    pub remedy: Option<String>,
    pub evidence: Option<serde_json::Value>,
    /// The socket and the `listen` that owns it, for nginx findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Box<super::nginx::NginxRef>>,
    /// A shared cause's sentence and remedy, the same for all its findings (text only:
    /// the JSON names the cause, and each finding keeps its own remedy).
    #[serde(skip)]
    pub said: Option<std::sync::Arc<super::cause::Said>>,
}

impl Finding {
    pub fn new(kind: &'static str, subject: &str, severity: Severity) -> Self {
        Finding {
            id: format!("{kind}/{subject}"),
            kind,
            subject: subject.to_string(),
            status: Status::Pass,
            severity,
            cause: None,
            expected: None,
            live: None,
            effective: None,
            persisted: None,
            drift: None,
            absent: None,
            scope: None,
            host_wide: false,
            message: String::new(),
            explanation: std::borrow::Cow::Borrowed(""),
            profile: None,
            rationale: None,
            fact: None,
            incident: None,
            remedy: None,
            evidence: None,
            nginx: None,
            said: None,
        }
    }

    /// A finding for a profile rule, carrying the rule's reasons.
    pub fn for_rule(kind: &'static str, subject: &str, why: &Reasons) -> Self {
        let mut f = Finding::new(kind, subject, why.severity);
        f.profile = Some(why.origin.clone());
        f.rationale = why.rationale.clone();
        f.fact = why.fact.clone();
        f.incident = why.incident;
        f
    }

    pub fn pass(mut self, message: String) -> Self {
        self.status = Status::Pass;
        self.message = message;
        self
    }

    pub fn fail(mut self, severity: Severity, message: String) -> Self {
        self.status = Status::Fail;
        self.severity = severity;
        self.message = message;
        self
    }

    /// Skips report as info: nothing is wrong that the audit could see.
    pub fn skip(mut self, message: String) -> Self {
        self.status = Status::Skip;
        self.severity = Severity::Info;
        self.message = message;
        self
    }

    /// Ordering for reports: failures by severity (worst first), then skips, then passes.
    pub fn rank(&self) -> (Status, std::cmp::Reverse<Severity>) {
        (self.status, std::cmp::Reverse(self.severity))
    }

    /// Whether this finding makes the audit fail at the given threshold.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.status == Status::Fail && self.severity >= threshold
    }
}
