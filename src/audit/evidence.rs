//! The kernel's own evidence on each finding: the counters the catalog lists for the
//! key (ListenOverflows for somaxconn, TCPReqQFullDrop for syncookies, ...), as they
//! stand since the namespace started. A rate needs two samples: `tuneguard observe`.

use super::Finding;
use crate::catalog;
use crate::host::counters::Counters;
use serde_json::{Map, Value};

/// The key whose counters speak for a finding: its subject for sysctl findings, somaxconn
/// for nginx backlog findings (the listen queue's counters).
fn key_of(f: &Finding) -> Option<&str> {
    match f.kind {
        "sysctl" => Some(&f.subject),
        "nginx" if f.nginx.is_some() || f.subject == "nginx.listen_backlog" => {
            Some("net.core.somaxconn")
        }
        _ => None,
    }
}

/// Counter names as the catalog writes them map to Counters' names; TcpExt fields are
/// shown bare (`ListenOverflows`), the others with their source (`sockstat:TCP tw`).
pub fn for_key(key: &str, c: &Counters) -> Option<Value> {
    let info = catalog::lookup(key)?;
    let mut out = Map::new();
    for name in info.counters {
        if let Some(v) = c.get(name) {
            let shown = name.strip_prefix("TcpExt:").unwrap_or(name);
            out.insert(shown.to_string(), Value::from(v));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

pub fn attach(findings: &mut [Finding], c: &Counters) {
    for f in findings {
        if let Some(key) = key_of(f) {
            f.evidence = for_key(key, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn somaxconn_carries_the_listen_queue_counters() {
        let mut c = Counters::default();
        c.values.insert("TcpExt:ListenOverflows".into(), 31877);
        c.values.insert("TcpExt:ListenDrops".into(), 31880);
        c.values.insert("TcpExt:TCPReqQFullDrop".into(), 0);
        let v = for_key("net.core.somaxconn", &c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ListenOverflows": 31877, "ListenDrops": 31880})
        );
        // A key whose counters this kernel lacks has no evidence, not zeros.
        assert_eq!(for_key("net.ipv4.tcp_fin_timeout", &c), None);
        assert_eq!(for_key("net.not.a.key", &c), None);
    }
}
