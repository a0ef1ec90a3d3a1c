//! Mutation fuzzing of every parser that reads input another user or another machine may
//! have written (docs/security.md): profiles, sysctl.d files, nginx configurations and
//! `nginx -T` dumps, transaction journals, Ansible arguments files, captured proc files,
//! capture archives and their manifest.json.
//!
//! Each target starts from its corpus in tests/fuzz/TARGET/ (real files nobody here
//! wrote where there are any: Debian's procps and nginx-common files, an `nginx -T` of
//! Debian's nginx 1.22, a journal and an Ansible 2.19 arguments file produced by the real
//! tools, a capture `tuneguard capture -o` wrote), replays every file there (crashes found once are kept there as `crash-*`), then
//! runs mutated inputs: bit flips, bytes and tokens inserted (`{`, `*`, `\0`, CR, quotes,
//! long runs), ranges deleted, duplicated and spliced from another seed. The parser runs
//! in this process; a panic fails the test and saves the input to
//! target/fuzz-crashes/TARGET-N, and the input being run is always in
//! target/fuzz-current-TARGET, so a stack overflow (which aborts) leaves it behind too.
//!
//! Deterministic by default (fixed seed, `TUNEGUARD_FUZZ_ITERS` inputs per target, 3000
//! unless set); `TUNEGUARD_FUZZ_SEED` picks another seed for longer runs by hand:
//!   TUNEGUARD_FUZZ_ITERS=200000 TUNEGUARD_FUZZ_SEED=$RANDOM cargo test --test fuzz

use std::path::{Path, PathBuf};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b";",
    b"*",
    b"?",
    b"[",
    b"]",
    b"[!",
    b"\\",
    b"\0",
    b"\r",
    b"\n",
    b"\"",
    b"'",
    b"#",
    b"=",
    b":",
    b"-",
    b"..",
    b"/",
    b"$",
    b"~",
    b" ",
    b"\t",
    b"\xff",
    b"\xc3\x28",
    b"\x1b[2J",
    b"include ",
    b"listen ",
    b"backlog=",
    b"extends: [",
    b"net.ipv4.",
    b"*.*",
    b"- ",
    b"{{",
    b"]]",
    b"&a",
    b"*a",
    b"!!",
    b"---\n",
    b"0x",
    b"-1",
    b"18446744073709551616",
    b"TcpExt: ",
    b"\"_ansible_no_log\": true",
    b"\"root\": \"/\"",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, t.iter().copied());
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                out.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(256)).min(len);
                let piece = out[a..b].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, piece);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(512)).min(other.len());
                    let at = rng.below(len + 1);
                    out.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 => {
                // A long run: what blows stacks and quadratic loops.
                let t = TOKENS[rng.below(TOKENS.len())];
                let n = 1 + rng.below(2000);
                let at = rng.below(len + 1);
                out.splice(at..at, t.iter().copied().cycle().take(t.len() * n));
            }
            6 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            _ => {
                let at = rng.below(len + 1);
                out.truncate(at);
            }
        }
    }
    out.truncate(1 << 20);
    out
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let out: Vec<_> = files
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(!out.is_empty(), "no corpus in {}", dir.display());
    out
}

/// Runs `check` on every corpus file, then on mutated inputs.
fn fuzz(target: &str, check: impl Fn(&[u8])) {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    let iters: usize = std::env::var("TUNEGUARD_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("TUNEGUARD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7e57_ab1e);
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let current = out_dir.join(format!("fuzz-current-{target}"));
    let mut rng = Rng(seed
        ^ target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }));
    let slowest = std::cell::Cell::new(std::time::Duration::ZERO);
    let run = |input: &[u8], n: usize| {
        let _ = std::fs::write(&current, input);
        let t = std::time::Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)));
        let took = t.elapsed();
        if took > slowest.get() {
            slowest.set(took);
            let _ = std::fs::write(out_dir.join(format!("fuzz-slowest-{target}")), input);
        }
        // A hang detector, as libFuzzer's -timeout: no input may take this long.
        assert!(
            took < std::time::Duration::from_secs(10),
            "{target}: input {n} took {took:?}; saved as target/fuzz-slowest-{target}"
        );
        if r.is_err() {
            let dir = out_dir.join("fuzz-crashes");
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join(format!("{target}-{n}"));
            std::fs::write(&p, input).unwrap();
            panic!(
                "{target}: input {n} panicked; saved to {} (copy it into tests/fuzz/{target}/crash-NAME to keep it)",
                p.display()
            );
        }
    };
    for (n, s) in seeds.iter().enumerate() {
        run(s, n);
    }
    let mut input = seeds[0].clone();
    for n in 0..iters {
        // Mostly from a fresh seed, sometimes stacking on the last mutant.
        if rng.below(3) != 0 {
            input = seeds[rng.below(seeds.len())].clone();
        }
        input = mutate(&mut rng, &seeds, &input);
        run(&input, seeds.len() + n);
    }
    let _ = std::fs::remove_file(&current);
    eprintln!(
        "{target}: {} inputs, slowest {:?} (target/fuzz-slowest-{target})",
        seeds.len() + iters,
        slowest.get()
    );
}

#[test]
fn profiles() {
    let dir = tempfile::tempdir().unwrap();
    let lib = tuneguard::profile::Library::load(Path::new("/nonexistent-root")).unwrap();
    let path = dir.path().join("p.yaml");
    fuzz("profile", |input| {
        std::fs::write(&path, input).unwrap();
        let _ = lib.validate_file(&path);
    });
}

#[test]
fn sysctl_d_files() {
    use tuneguard::host::sysctl_d;
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&d).unwrap();
    let keys = [
        "net.core.somaxconn",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.conf.all.rp_filter",
        "kernel.pid_max",
    ];
    fuzz("sysctl-d", |input| {
        std::fs::write(d.join("50-fuzz.conf"), input).unwrap();
        std::fs::write(root.path().join("etc/sysctl.conf"), input).unwrap();
        let p = sysctl_d::read(root.path());
        for k in keys {
            let _ = sysctl_d::resolve::resolve(&p, k);
        }
        for line in sysctl_d::parse::parse(&String::from_utf8_lossy(input)) {
            let _ = format!("{line:?}");
        }
    });
}

#[test]
fn nginx_configurations() {
    use tuneguard::host::nginx;
    let main = PathBuf::from("/etc/nginx/nginx.conf");
    fuzz("nginx-conf", |input| {
        let mut files = std::collections::BTreeMap::new();
        files.insert(main.clone(), input.to_vec());
        // An include of itself and of a glob: cycles and globs are parsed too.
        files.insert(PathBuf::from("/etc/nginx/snippets/a.conf"), input.to_vec());
        if let Ok(conf) = nginx::load_files(files, &main) {
            let _ = nginx::listen::model(&conf, nginx::versions::NEWEST);
        }
    });
}

#[test]
fn nginx_dumps() {
    use tuneguard::host::nginx;
    fuzz("nginx-dump", |input| {
        if let Ok(conf) = nginx::load_dump(input) {
            let _ = nginx::listen::model(&conf, nginx::versions::NEWEST);
        }
    });
}

#[test]
fn journals() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("20261130-000000");
    std::fs::create_dir_all(j.join("files")).unwrap();
    fuzz("journal", |input| {
        std::fs::write(j.join("record.json"), input).unwrap();
        let _ = tuneguard::txn::journal::Journal::load(&j);
    });
}

#[test]
fn ansible_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("args");
    fuzz("ansible-args", |input| {
        std::fs::write(&p, input).unwrap();
        let _ = tuneguard::ansible::check_args(&p);
    });
}

#[test]
fn captured_proc_files() {
    use tuneguard::host::{counters::Counters, sysctl::Reader, LiveSource};
    let cap = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cap.path().join("net")).unwrap();
    std::fs::create_dir_all(cap.path().join("sys/net/core")).unwrap();
    let names = ["netstat", "snmp", "sockstat", "sockstat6"];
    let reader = Reader::new(LiveSource::ProcDir(cap.path().to_path_buf()));
    fuzz("proc", |input| {
        for n in names {
            std::fs::write(cap.path().join("net").join(n), input).unwrap();
        }
        std::fs::write(cap.path().join("sys/net/core/somaxconn"), input).unwrap();
        std::fs::write(cap.path().join("slabinfo"), input).unwrap();
        std::fs::write(cap.path().join("meminfo"), input).unwrap();
        let c = Counters::read(cap.path());
        let _ = tuneguard::host::counters::delta(&c, &c);
        let _ = reader.read("net.core.somaxconn");
    });
}

/// Capture archives come from anywhere (a support ticket): the tar layer is mutated (the
/// corpus is a capture's tar, gzip-compressed before each run, since a mutated gzip
/// stream mostly fails its checksum), then the bytes themselves are tried as the file.
/// Whatever happens, the private extraction directory must be gone afterwards.
#[test]
fn capture_archives() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (gz, raw) = (dir.path().join("x.tar.gz"), dir.path().join("y.tar.gz"));
    let leftovers = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".tuneguard-capture"))
            })
            .collect()
    };
    let before = leftovers();
    fuzz("capture-archive", |input| {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(input).unwrap();
        std::fs::write(&gz, z.finish().unwrap()).unwrap();
        std::fs::write(&raw, input).unwrap();
        for p in [&gz, &raw] {
            if let Ok(x) = tuneguard::safety::archive::extract(p) {
                let _ = tuneguard::host::capture::Manifest::read(&x.top);
            }
        }
    });
    assert_eq!(leftovers(), before, "extraction directories left behind");
}

#[test]
fn capture_manifests() {
    let dir = tempfile::tempdir().unwrap();
    fuzz("capture-manifest", |input| {
        std::fs::write(dir.path().join("manifest.json"), input).unwrap();
        let _ = tuneguard::host::capture::Manifest::read(dir.path());
    });
}
