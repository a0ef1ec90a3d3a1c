//! The kernel's own evidence on each finding: the counters the catalog lists for the
//! key (ListenOverflows for somaxconn, TCPReqQFullDrop for syncookies, ...), as they
//! stand since the namespace started. A rate needs two samples: `tuneguard observe`.

use super::Finding;
use crate::catalog;
use crate::host::counters::Counters;
use serde_json::{Map, Value};

/// The key whose counters speak for a finding: its subject for sysctl findings, somaxconn
/// for nginx findings about a listen queue (backlog, the somaxconn cap, a live listener),
/// the keepalive time for nginx so_keepalive findings.
fn key_of(f: &Finding) -> Option<&str> {
    match f.kind {
        "sysctl" => Some(&f.subject),
        "nginx" if f.id.contains("so_keepalive") => Some("net.ipv4.tcp_keepalive_time"),
        "nginx"
            if f.id.contains("backlog")
                || f.id.contains("somaxconn")
                || f.id.starts_with("nginx/listener/") =>
        {
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

    #[test]
    fn nginx_findings_get_the_counters_of_what_they_are_about() {
        let of = |kind: &'static str, id: &str| {
            let mut f = Finding::new(kind, "listen 0.0.0.0:80", crate::profile::Severity::Error);
            f.id = id.to_string();
            key_of(&f).map(str::to_string)
        };
        let somaxconn = Some("net.core.somaxconn".to_string());
        assert_eq!(
            of("nginx", "nginx/listen_backlog/tcp/0.0.0.0:80"),
            somaxconn
        );
        assert_eq!(
            of("nginx", "nginx/within_somaxconn/tcp/0.0.0.0:80"),
            somaxconn
        );
        assert_eq!(of("nginx", "nginx/listener/0.0.0.0:80"), somaxconn);
        assert_eq!(
            of("nginx", "nginx/so_keepalive/tcp/0.0.0.0:80"),
            Some("net.ipv4.tcp_keepalive_time".into())
        );
        assert_eq!(of("nginx", "nginx/live/sock_diag"), None);
        assert_eq!(of("persisted", "persisted/x"), None);
    }
}
