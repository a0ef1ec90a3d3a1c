//! A checked rule: what a value must be, in one of the shapes a profile can say.

use super::model::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    Equals(Value),
    NotEquals(Value),
    OneOf(Vec<Value>),
    /// Per-field bounds; at least one is set.
    Range {
        min: Option<Value>,
        max: Option<Value>,
    },
}

impl Constraint {
    /// Whether `actual` satisfies the constraint. `norm` maps each integer field to what
    /// the kernel acts on (tcp_syncookies=3 acts as 1), on both sides. Text values (keys
    /// outside the catalog that do not parse as integers) compare as whitespace-normalized
    /// text for equality and never satisfy a range.
    pub fn holds(&self, actual: &Value, norm: &dyn Fn(i64) -> i64) -> bool {
        let ints = |v: &Value| {
            v.ints()
                .map(|xs| xs.into_iter().map(norm).collect::<Vec<_>>())
        };
        let same = |a: &Value, b: &Value| match (ints(a), ints(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a.to_sysctl_string() == b.to_sysctl_string(),
        };
        match self {
            Constraint::Equals(v) => same(actual, v),
            Constraint::NotEquals(v) => !same(actual, v),
            Constraint::OneOf(vs) => vs.iter().any(|v| same(actual, v)),
            Constraint::Range { min, max } => {
                let Some(a) = ints(actual) else { return false };
                let within = |bound: &Option<Value>, ok: fn(i64, i64) -> bool| match bound {
                    None => true,
                    Some(b) => match ints(b) {
                        Some(b) if b.len() == a.len() => a.iter().zip(&b).all(|(x, y)| ok(*x, *y)),
                        _ => false,
                    },
                };
                within(min, |x, b| x >= b) && within(max, |x, b| x <= b)
            }
        }
    }

    /// The value that fixes `live` when the profile names none: the bound it crossed
    /// (a value above `max` gets `max`, below `min` gets `min`), the `equals` value, or
    /// the first of `one_of`. Without a live value, the lower bound.
    pub fn default_apply(&self, live: Option<&Value>) -> Option<Value> {
        match self {
            Constraint::Equals(v) => Some(v.clone()),
            Constraint::OneOf(vs) => vs.first().cloned(),
            Constraint::Range { min, max } => {
                let above_max = match (
                    live.and_then(Value::ints),
                    max.as_ref().and_then(Value::ints),
                ) {
                    (Some(l), Some(m)) => l.iter().zip(&m).any(|(a, b)| a > b),
                    _ => false,
                };
                if above_max || min.is_none() {
                    max.clone()
                } else {
                    min.clone()
                }
            }
            Constraint::NotEquals(_) => None,
        }
    }

    /// The JSON `expected` object of a finding.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let v = |x: &Value| value_json(x);
        match self {
            Constraint::Equals(x) => json!({ "equals": v(x) }),
            Constraint::NotEquals(x) => json!({ "not": v(x) }),
            Constraint::OneOf(xs) => json!({ "one_of": xs.iter().map(v).collect::<Vec<_>>() }),
            Constraint::Range { min, max } => {
                let mut m = serde_json::Map::new();
                if let Some(x) = min {
                    m.insert("min".into(), v(x));
                }
                if let Some(x) = max {
                    m.insert("max".into(), v(x));
                }
                serde_json::Value::Object(m)
            }
        }
    }
}

/// A value in JSON: a number for one integer, an array for several, else a string.
pub fn value_json(v: &Value) -> serde_json::Value {
    match v.ints() {
        Some(xs) if xs.len() == 1 => serde_json::json!(xs[0]),
        Some(xs) if !xs.is_empty() => serde_json::json!(xs),
        _ => serde_json::json!(v.to_sysctl_string()),
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Equals(v) => write!(f, "= {v}"),
            Constraint::NotEquals(v) => write!(f, "≠ {v}"),
            Constraint::OneOf(vs) => {
                let parts: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                write!(f, "one of {}", parts.join(" | "))
            }
            Constraint::Range {
                min: Some(a),
                max: Some(b),
            } => write!(f, "{a} ≤ x ≤ {b}"),
            Constraint::Range {
                min: Some(a),
                max: None,
            } => write!(f, "≥ {a}"),
            Constraint::Range {
                min: None,
                max: Some(b),
            } => write!(f, "≤ {b}"),
            Constraint::Range {
                min: None,
                max: None,
            } => write!(f, "anything"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(x: i64) -> i64 {
        x
    }

    #[test]
    fn ranges_and_fields() {
        let r = Constraint::Range {
            min: Some(Value::Int(1024)),
            max: None,
        };
        assert!(r.holds(&Value::Text("4096".into()), &id));
        assert!(!r.holds(&Value::Int(128), &id));
        let pr = Constraint::Range {
            min: Some(Value::List(vec![1024, 61000])),
            max: None,
        };
        assert!(pr.holds(&Value::Text("1024\t65000".into()), &id));
        assert!(!pr.holds(&Value::Text("32768 60999".into()), &id));
        assert!(!pr.holds(&Value::Text("abc".into()), &id));
    }

    #[test]
    fn meaning_applies_to_both_sides() {
        let c = Constraint::Equals(Value::Int(1));
        let cookies = |x: i64| crate::catalog::Meaning::Syncookies.effective(x);
        assert!(c.holds(&Value::Int(3), &cookies));
        assert!(!c.holds(&Value::Int(2), &cookies));
        assert!(
            Constraint::Equals(Value::Text("bbr".into())).holds(&Value::Text(" bbr ".into()), &id)
        );
    }

    #[test]
    fn default_apply_is_the_bound() {
        let r = Constraint::Range {
            min: None,
            max: Some(Value::Int(5)),
        };
        assert_eq!(r.default_apply(None), Some(Value::Int(5)));
        assert_eq!(
            Constraint::OneOf(vec![Value::Int(1), Value::Int(2)]).default_apply(None),
            Some(Value::Int(1))
        );
        let both = Constraint::Range {
            min: Some(Value::Int(30)),
            max: Some(Value::Int(300)),
        };
        assert_eq!(
            both.default_apply(Some(&Value::Int(7200))),
            Some(Value::Int(300))
        );
        assert_eq!(
            both.default_apply(Some(&Value::Int(10))),
            Some(Value::Int(30))
        );
    }
}
