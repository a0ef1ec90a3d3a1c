//! nginx listen checks. Reading nginx's configuration and live listeners is not in this
//! version yet, so each nginx rule of the profile reports `skip` saying exactly that,
//! rather than passing silently.

use super::{waived, Finding};
use crate::profile::Profile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NginxInput {
    /// `--no-nginx`.
    Disabled,
    /// nginx was asked for but this version cannot read it yet.
    NotSupported,
}

pub(super) fn check(profile: &Profile, input: &NginxInput) -> Vec<Finding> {
    let why = match input {
        NginxInput::Disabled => "skipped: --no-nginx was given".to_string(),
        NginxInput::NotSupported => {
            "not checked: this version of tuneguard does not read nginx's configuration yet"
                .to_string()
        }
    };
    let mut out = Vec::new();
    if let Some(b) = &profile.listen_backlog {
        let mut f = Finding::for_rule("nginx", "nginx.listen_backlog", &b.why);
        let mut expected = serde_json::Map::new();
        if let Some(m) = b.min {
            expected.insert("min".into(), m.into());
        }
        if b.within_somaxconn {
            expected.insert("max".into(), "net.core.somaxconn".into());
        }
        f.expected = Some(expected.into());
        f.explanation =
            "nginx asks listen() for its backlog (511 when unset on Linux); the kernel caps it at \
net.core.somaxconn at that moment, and the socket keeps that cap until listen() is called again."
                .into();
        out.push(
            waived(profile, "nginx.listen_backlog", f.clone())
                .unwrap_or_else(|| f.skip(format!("nginx listen backlog {why}"))),
        );
    }
    if let Some(k) = &profile.so_keepalive {
        let mut f = Finding::for_rule("nginx", "nginx.so_keepalive", &k.why);
        f.expected = Some(serde_json::json!({ "required": k.required }));
        f.explanation =
            "listen ... so_keepalive=on|idle:intvl:cnt sets SO_KEEPALIVE on the listening socket; \
accepted connections inherit it on Linux."
                .into();
        out.push(
            waived(profile, "nginx.so_keepalive", f.clone())
                .unwrap_or_else(|| f.skip(format!("nginx so_keepalive {why}"))),
        );
    }
    out
}
