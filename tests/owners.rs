//! Who holds a listener: the owner scan looks only at processes living in the audited
//! namespace (one stat of /proc/PID/ns/net each), never at other namespaces' fd tables.

mod common;

use common::{run, Dirs, Netns};
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// A python3 started in `ns` that runs `code`, which prints `up` once its sockets exist;
/// killed on drop.
struct Py(Child);

impl Py {
    fn start(ns: &Netns, code: &str) -> Py {
        // `ip netns exec` execs python3 itself, so the child's pid is python's.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", code])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let py = Py(child);
        assert_eq!(line.trim(), "up");
        py
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listen(port: u16) -> String {
    format!("import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen(77)\n")
}

fn live_owners(r: &Value, socket: &str) -> Vec<(u64, String)> {
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == format!("nginx/live/http/{socket}"))
        .unwrap_or_else(|| panic!("no nginx/live finding for {socket}: {r:#}"));
    f["live"]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["pid"].as_u64().unwrap(),
                o["name"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn processes_in_other_namespaces_are_not_listed_as_owners() {
    let a = Netns::new();
    let b = Netns::new();
    // The same address in both namespaces, each held by its own process.
    let in_a = Py::start(
        &a,
        &(listen(8080) + "print('up',flush=True)\ntime.sleep(60)"),
    );
    let _in_b = Py::start(
        &b,
        &(listen(8080) + "print('up',flush=True)\ntime.sleep(60)"),
    );
    // A listener of A whose only holder then moves itself into B (setns after listen):
    // the socket stays in A, its holder no longer lives there.
    let setns = format!(
        "import ctypes,os\nlibc=ctypes.CDLL(None,use_errno=True)\n\
         assert libc.setns(os.open('{}',os.O_RDONLY),0x40000000)==0\n",
        b.path().display()
    );
    let moved = Py::start(
        &a,
        &(listen(8081) + &setns + "print('up',flush=True)\ntime.sleep(60)"),
    );
    let d = Dirs::new();
    let conf = d.write(
        "nginx.conf",
        "events {}\nhttp { server { listen 127.0.0.1:8080; } server { listen 127.0.0.1:8081; } }\n",
    );
    let r = run(&[
        "audit",
        "--only",
        "nginx",
        "--netns",
        &a.name,
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(r.code <= 1, "audit failed with {}: {}", r.code, r.stderr);
    let r = r.json();
    assert_eq!(
        live_owners(&r, "127.0.0.1:8080"),
        vec![(u64::from(in_a.pid()), "python3".to_string())]
    );
    // ss -p would name the moved process; tuneguard lists only processes living in A, so
    // its fd table (and any other namespace's) is never read.
    assert!(moved.pid() > 0);
    assert_eq!(live_owners(&r, "127.0.0.1:8081"), vec![]);
}
