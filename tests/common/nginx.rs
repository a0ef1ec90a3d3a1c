//! Real nginx (Debian's, unpacked by scripts/test) for the tests: configs of the test's
//! making under a temp prefix, `nginx -t`/`-T` as oracles, and servers started inside a
//! test namespace, stopped when dropped (the namespace's drop kills what is left).

use super::Netns;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The nginx binary: $TUNEGUARD_TEST_NGINX (set by scripts/test), the unpacked Debian
/// package under target/, or one in PATH.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TUNEGUARD_TEST_NGINX") {
        return PathBuf::from(p);
    }
    let unpacked = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian-nginx/usr/sbin/nginx");
    if unpacked.is_file() {
        return unpacked;
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!("no nginx: run ./scripts/test, which unpacks Debian's nginx into target/debian-nginx");
}

/// The version of [`binary`], as tuneguard reads it from the binary's bytes (its root:
/// the directory above usr/sbin), for the grammar of that version.
pub fn version() -> tuneguard::host::nginx::versions::Version {
    use tuneguard::host::nginx::binary;
    let bin = binary();
    let root = bin.ancestors().nth(3).unwrap();
    let a = binary::assume(None, root, true, None);
    assert!(
        matches!(a.source, binary::Source::Binary(_)),
        "{}",
        a.describe()
    );
    a.version
}

/// Debian builds the stream module as a dynamic module.
pub fn stream_module() -> PathBuf {
    let bin = binary();
    let root = bin
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap();
    let p = root.join("usr/lib/nginx/modules/ngx_stream_module.so");
    assert!(p.is_file(), "no stream module at {}", p.display());
    p
}

/// A prefix directory holding nginx.conf and everything nginx writes.
pub struct Prefix {
    pub dir: tempfile::TempDir,
}

impl Prefix {
    pub fn new() -> Prefix {
        Prefix {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn conf(&self) -> PathBuf {
        self.path().join("nginx.conf")
    }

    /// Writes a file under the prefix (parents made).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The main-context lines every runnable config needs here: pid and logs in the
    /// prefix, and (for http) the temp paths, which otherwise point at /var/lib/nginx.
    pub fn preamble(&self) -> String {
        let d = self.path().display();
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n"
        )
    }

    pub fn http_preamble(&self) -> String {
        let d = self.path().display();
        format!(
            "access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;"
        )
    }

    /// Writes FILE as the preamble and an http{} block (its temp paths on the block's
    /// first line, line 4) holding `servers`.
    pub fn write_http(&self, file: &str, servers: &str) -> PathBuf {
        let text = format!(
            "{}http {{ {}\n{servers}}}\n",
            self.preamble(),
            self.http_preamble()
        );
        self.write(file, &text)
    }

    fn nginx(&self, ns: Option<&Netns>, args: &[&str]) -> Output {
        self.nginx_at(&binary(), ns, args)
    }

    fn nginx_at(&self, bin: &Path, ns: Option<&Netns>, args: &[&str]) -> Output {
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let conf = self.conf();
        cmd.arg("-p")
            .arg(self.path())
            .arg("-c")
            .arg(&conf)
            .args(["-e", "stderr"])
            .args(args);
        cmd.output().expect("running nginx")
    }

    /// `nginx -t`: (accepted, stderr).
    pub fn test(&self) -> (bool, String) {
        let out = self.nginx(None, &["-t"]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `nginx -T` stdout, asserting the test passed.
    pub fn dump(&self) -> Vec<u8> {
        let out = self.nginx(None, &["-T"]);
        assert!(
            out.status.success(),
            "nginx -T: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Starts nginx in the namespace; Err carries nginx's stderr. Returns once the
    /// daemonized master has set its title (`nginx: master process ...`, what tuneguard
    /// finds it by; until then its sockets are held by a process titled otherwise), or
    /// after 5 s.
    pub fn start(&self, ns: &Netns) -> Result<(), String> {
        self.start_with(&binary(), ns)
    }

    /// `start` with this nginx binary.
    pub fn start_with(&self, bin: &Path, ns: &Netns) -> Result<(), String> {
        let out = self.nginx_at(bin, Some(ns), &[]);
        if out.status.success() {
            for _ in 0..250 {
                let pid = std::fs::read_to_string(self.path().join("nginx.pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                let title = pid
                    .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
                    .unwrap_or_default();
                if String::from_utf8_lossy(&title).contains("master process") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `nginx -s reload|stop|quit`, waiting until the new workers (or none) run.
    pub fn signal(&self, ns: &Netns, sig: &str) {
        let out = self.nginx(Some(ns), &["-s", sig]);
        assert!(
            out.status.success(),
            "nginx -s {sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // nginx applies a reload asynchronously; the old workers finish shortly after.
        std::thread::sleep(std::time::Duration::from_millis(400));
    }

    pub fn stop(&self, ns: &Netns) {
        if self.path().join("nginx.pid").exists() {
            let _ = self.nginx(Some(ns), &["-s", "stop"]);
            for _ in 0..50 {
                if !self.path().join("nginx.pid").exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// `ss -lntH` in the namespace: (local address, Recv-Q, Send-Q) per listener. The oracle
/// for backlogs.
pub fn ss_listeners(ns: &Netns) -> Vec<(String, u32, u32)> {
    let out = ns.exec(&["ss", "-lntH"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.get(3)?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// `ss -lxH` in the namespace: (path, Send-Q) per unix stream listener.
pub fn ss_unix_listeners(ns: &Netns) -> Vec<(String, u32)> {
    let out = ns.exec(&["ss", "-lxH"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(4)?.to_string(), f.get(3)?.parse().ok()?))
        })
        .collect()
}

/// The namespace's TCP listeners as (address, max backlog), sorted: what `ss -lnt` says.
pub fn listeners(ns: &Netns) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = ss_listeners(ns)
        .into_iter()
        .map(|(a, _, send_q)| (a, send_q))
        .collect();
    v.sort();
    v
}

/// Expected listeners, in the shape `listeners` returns.
pub fn caps(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    v.iter().map(|(a, c)| (a.to_string(), *c)).collect()
}
