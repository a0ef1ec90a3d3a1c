//! The profile file format (docs/profiles.md is its reference). Parsed with serde_yaml;
//! every struct denies unknown fields so a typo is an error with file, line and column.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One profile file as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The profile's name; defaults to the file name without extension.
    #[serde(default)]
    pub name: Option<String>,
    /// One line saying what kind of server the profile is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Profiles this one builds on, applied first, in order; this file's rules override
    /// theirs key by key.
    #[serde(default)]
    pub extends: Vec<String>,
    /// Rules per sysctl key, by dotted name.
    #[serde(default)]
    pub sysctl: UniqueMap<Rule>,
    /// The keepalive arithmetic: tcp_keepalive_time + intvl × probes against the idle
    /// timeouts in the path.
    #[serde(default)]
    pub keepalive: Option<KeepaliveRule>,
    /// nginx listen rules.
    #[serde(default)]
    pub nginx: Option<NginxRules>,
    /// Checks skipped on purpose: subject (a key, `keepalive`, `nginx.listen_backlog`,
    /// `nginx.so_keepalive`) → the reason, reported with a `skip` finding.
    #[serde(default)]
    pub waivers: UniqueMap<String>,
}

/// A value as a profile writes it: a number, a list of numbers (multi-field keys such
/// as ip_local_port_range), or text (keys outside the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    List(Vec<i64>),
    Text(String),
}

/// By hand rather than `untagged`, so a bad value is reported where it is and says
/// what was expected (an untagged enum buffers the whole mapping and loses both).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, a list of integers, or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
                Err(E::custom(format!(
                    "{v} is not an integer: sysctl values are whole numbers"
                )))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
                Err(E::custom(format!("`{v}` is a boolean: write 1 or 0")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<i64>()? {
                    out.push(x);
                }
                Ok(Value::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping that refuses a key written twice (serde_yaml would keep the last one
/// silently, and a profile author would not know which rule applies).
#[derive(Debug, Clone)]
pub struct UniqueMap<T>(pub BTreeMap<String, T>);

impl<T> Default for UniqueMap<T> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for UniqueMap<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct M<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for M<T> {
            type Value = UniqueMap<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "`{k}` appears twice: keep one"
                        )));
                    }
                    let v = map.next_value()?;
                    out.insert(k, v);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(M(std::marker::PhantomData))
    }
}

impl Value {
    /// The integers of the value: `4096` → [4096], `[32768, 60999]` and "32768 60999"
    /// → [32768, 60999]; None when the text is not all integers.
    pub fn ints(&self) -> Option<Vec<i64>> {
        match self {
            Value::Int(i) => Some(vec![*i]),
            Value::List(v) => Some(v.clone()),
            Value::Text(s) => s.split_whitespace().map(|p| p.parse().ok()).collect(),
        }
    }

    /// The form /proc/sys and sysctl.d use: fields separated by one space (the kernel
    /// prints tabs; both are accepted on write).
    pub fn to_sysctl_string(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::List(v) => v.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
            Value::Text(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sysctl_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a key must be. Exactly one way of saying it: `equals`, `one_of`, or a range
/// (`min` and/or `max`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub min: Option<Value>,
    #[serde(default)]
    pub max: Option<Value>,
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    /// The value `apply` writes; defaults to the bound (equals, min, else max, else the
    /// first of one_of).
    #[serde(default)]
    pub apply: Option<Value>,
    /// How bad a mismatch is; default warning.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Why this value, in a sentence a person at a root shell can act on.
    #[serde(default)]
    pub rationale: Option<String>,
    /// The measured fact the value rests on (e.g. "docs/kernel.md §1: listen() caps ...").
    #[serde(default)]
    pub fact: Option<String>,
    /// The incident of docs/incidents.md this value prevents, by number.
    #[serde(default)]
    pub incident: Option<u32>,
    /// Kernel versions the rule applies to (">=5.4", "<4.12", ">=4.1, <6.3").
    #[serde(default)]
    pub kernel: Option<String>,
    /// The rule applies only while another key satisfies a condition
    /// (tcp_max_syn_backlog matters only when tcp_syncookies = 0).
    #[serde(default)]
    pub when: Option<When>,
}

/// A condition on another key's live value (compared as the kernel acts on it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub key: String,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub not: Option<Value>,
    #[serde(default)]
    pub min: Option<Value>,
    #[serde(default)]
    pub max: Option<Value>,
}

/// Dead-peer detection: the kernel gives up on a silent peer after
/// `tcp_keepalive_time + tcp_keepalive_intvl × tcp_keepalive_probes` seconds (for
/// sockets with SO_KEEPALIVE).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveRule {
    /// The worst-case detection time must be at most this many seconds.
    #[serde(default)]
    pub max_detection: Option<u64>,
    /// The idle timeout (seconds) of a load balancer, NAT or firewall in the path: the
    /// worst-case detection time must fit within it too (docs/profiles.md, docs/kernel.md §4).
    #[serde(default)]
    pub idle_timeout: Option<u64>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub fact: Option<String>,
    #[serde(default)]
    pub incident: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxRules {
    #[serde(default)]
    pub listen_backlog: Option<BacklogRule>,
    #[serde(default)]
    pub so_keepalive: Option<SoKeepaliveRule>,
}

/// nginx `listen ... backlog=N`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacklogRule {
    #[serde(default)]
    pub min: Option<u64>,
    /// The backlog must not exceed net.core.somaxconn (else the kernel silently
    /// truncates it to somaxconn at listen()).
    #[serde(default)]
    pub within_somaxconn: Option<bool>,
    #[serde(default)]
    pub apply: Option<u64>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub fact: Option<String>,
    #[serde(default)]
    pub incident: Option<u32>,
}

/// nginx `listen ... so_keepalive=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoKeepaliveRule {
    /// Every listening socket must enable keepalive on accepted connections.
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub fact: Option<String>,
    #[serde(default)]
    pub incident: Option<u32>,
}
