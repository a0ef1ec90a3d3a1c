//! Profiles: what a kind of server needs. `model` is the file format, `load` finds and
//! parses files (built-ins embedded from profiles/, site profiles, paths), `validate`
//! turns a parsed file into checked rules, and `Profile` is the merged result audit uses.

mod constraint;
mod error;
pub mod load;
mod locate;
pub mod model;
mod validate;

pub use constraint::{value_json, Constraint};
pub use error::{NotFound, ProfileError};
pub use load::{Library, ProfileSource, BUILTIN};
pub use model::{Severity, Value};

use crate::kversion::KernelRange;
use std::collections::BTreeMap;

/// Where a rule came from: the profile's name (for "profile web-frontend wants ...").
pub type Origin = String;

/// Why a rule exists and how much it matters: the same for every kind of rule, and
/// copied into every finding the rule produces.
#[derive(Debug, Clone)]
pub struct Reasons {
    pub severity: Severity,
    /// Shared, not copied: every finding of the rule (one per nginx socket) carries it.
    pub rationale: Option<std::sync::Arc<str>>,
    pub fact: Option<std::sync::Arc<str>>,
    pub incident: Option<u32>,
    /// The profile that set the rule.
    pub origin: Origin,
}

/// A checked rule for one sysctl key.
#[derive(Debug, Clone)]
pub struct KeyRule {
    pub key: String,
    pub constraint: Constraint,
    /// What apply writes, when the profile says; else `fix_for` picks the bound.
    pub apply: Option<Value>,
    pub kernel: Option<KernelRange>,
    pub when: Option<Condition>,
    pub why: Reasons,
}

impl KeyRule {
    /// The value that brings `live` into line with the rule.
    pub fn fix_for(&self, live: Option<&Value>) -> Option<Value> {
        self.apply
            .clone()
            .or_else(|| self.constraint.default_apply(live))
    }
}

/// "Only while KEY satisfies TEST".
#[derive(Debug, Clone)]
pub struct Condition {
    pub key: String,
    pub test: Constraint,
}

#[derive(Debug, Clone)]
pub struct Keepalive {
    pub max_detection: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub why: Reasons,
}

#[derive(Debug, Clone)]
pub struct ListenBacklog {
    pub min: Option<u64>,
    pub within_somaxconn: bool,
    pub apply: Option<u64>,
    pub why: Reasons,
}

#[derive(Debug, Clone)]
pub struct SoKeepalive {
    pub required: bool,
    pub why: Reasons,
}

#[derive(Debug, Clone)]
pub struct Waiver {
    pub reason: String,
    pub origin: Origin,
}

/// The merged result of one or more profiles and everything they extend.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The profiles the user selected, in order.
    pub names: Vec<String>,
    /// Rules in the order they were first declared; a later profile replaces a key's
    /// rule in place.
    pub rules: Vec<KeyRule>,
    pub keepalive: Option<Keepalive>,
    pub listen_backlog: Option<ListenBacklog>,
    pub so_keepalive: Option<SoKeepalive>,
    /// Subject (key, `keepalive`, `nginx.listen_backlog`, `nginx.so_keepalive`) → waiver.
    pub waivers: BTreeMap<String, Waiver>,
}

impl Profile {
    /// Layers `other` over `self`: its rules replace ours key by key.
    pub fn overlay(&mut self, other: Profile) {
        // By key through a map: a profile of tens of thousands of rules overlays in
        // linear time.
        let mut at: std::collections::HashMap<String, usize> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        for rule in other.rules {
            match at.get(&rule.key) {
                Some(&i) => self.rules[i] = rule,
                None => {
                    at.insert(rule.key.clone(), self.rules.len());
                    self.rules.push(rule);
                }
            }
        }
        if other.keepalive.is_some() {
            self.keepalive = other.keepalive;
        }
        if other.listen_backlog.is_some() {
            self.listen_backlog = other.listen_backlog;
        }
        if other.so_keepalive.is_some() {
            self.so_keepalive = other.so_keepalive;
        }
        self.waivers.extend(other.waivers);
    }

    /// Whether some rule checks this subject (a key, `keepalive`, `nginx.*`).
    pub fn has_subject(&self, subject: &str) -> bool {
        match subject {
            "keepalive" => self.keepalive.is_some(),
            "nginx.listen_backlog" => self.listen_backlog.is_some(),
            "nginx.so_keepalive" => self.so_keepalive.is_some(),
            key => self.rule(key).is_some(),
        }
    }

    pub fn rule(&self, key: &str) -> Option<&KeyRule> {
        self.rules.iter().find(|r| r.key == key)
    }

    /// Every sysctl key the audit must read: the rules' keys, the keys their
    /// conditions look at, and the keepalive trio when the keepalive rule is set.
    pub fn keys_to_read(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut add = |k: &str| {
            if seen.insert(k.to_string()) {
                keys.push(k.to_string());
            }
        };
        for r in &self.rules {
            add(&r.key);
            if let Some(c) = &r.when {
                add(&c.key);
            }
        }
        if self.keepalive.is_some() {
            for k in KEEPALIVE_KEYS {
                add(k);
            }
        }
        if self.listen_backlog.is_some() {
            add("net.core.somaxconn");
        }
        // A key's dependency (tcp_max_syn_backlog needs tcp_syncookies) is read when
        // the key is.
        let deps: Vec<&str> = crate::catalog::DEPENDENCIES
            .iter()
            .filter(|d| self.rules.iter().any(|r| r.key == d.key))
            .map(|d| d.on)
            .collect();
        for k in deps {
            add(k);
        }
        keys
    }
}

/// time, intvl, probes.
pub const KEEPALIVE_KEYS: [&str; 3] = [
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
