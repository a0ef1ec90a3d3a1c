//! Two throwaway namespaces joined by a veth pair: servers in one, clients in the
//! other, so a connection crosses a real link as it does between two hosts (loopback
//! hides the per-host view: both ends, one namespace). The pair lives only inside the
//! two namespaces (made there, never in the host's), and goes with them on drop.

use super::Netns;
use std::process::Command;

pub const SERVER_IP: &str = "10.200.0.1";
pub const CLIENT_IP: &str = "10.200.0.2";

pub struct Link {
    pub server: Netns,
    pub client: Netns,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Link {
    pub fn new() -> Link {
        let link = Link {
            server: Netns::new(),
            client: Netns::new(),
        };
        let (s, c) = (link.server.name.as_str(), link.client.name.as_str());
        ip(&[
            "-n", s, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", c,
        ]);
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_IP}/24"),
            "dev",
            "v0",
        ]);
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            &format!("{CLIENT_IP}/24"),
            "dev",
            "v1",
        ]);
        ip(&["-n", s, "link", "set", "v0", "up"]);
        ip(&["-n", c, "link", "set", "v1", "up"]);
        link
    }

    /// A second client address whose SYN-ACKs never arrive: the server's neighbour entry
    /// for it points at a MAC nobody has, so the client kernel drops the frames. Its
    /// connects stay in SYN-SENT and the server's request sockets in SYN-RECV, as with
    /// clients behind a lossy path or a SYN flood from spoofed sources.
    pub fn unanswering_client_ip(&self) -> &'static str {
        let ghost = "10.200.0.99";
        ip(&[
            "-n",
            &self.client.name,
            "addr",
            "add",
            &format!("{ghost}/24"),
            "dev",
            "v1",
        ]);
        ip(&[
            "-n",
            &self.server.name,
            "neigh",
            "add",
            ghost,
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "v0",
            "nud",
            "permanent",
        ]);
        ghost
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting one end deletes both; the namespaces' own drop follows.
        let _ = Command::new("ip")
            .args(["-n", &self.server.name, "link", "del", "v0"])
            .output();
    }
}
