//! Acting: the only part of tuneguard that writes. A transaction is journaled before its
//! first change (`journal`), runs its steps in order (live values, each read back; files,
//! atomically; `nginx -t`; a reload or restart and a check of the live listeners), and on
//! any failure undoes every step already done, in reverse, then checks the undo
//! (docs/apply.md, "The transaction").
//!
//! Undo is idempotent: a file or key is restored only when it holds what the transaction
//! wrote, left alone when it already holds the old value, and reported when it holds
//! something else (someone changed it since). So `recover` can undo a journal whatever
//! step its process was killed at.

pub mod archive;
pub mod fault;
pub mod fsio;
pub mod journal;
pub mod lock;
pub mod nginx;
pub mod preview;

use crate::host::{sysctl::Reader, LiveSource, Reading};
use anyhow::{anyhow, bail, Context, Result};
use journal::{Control, FileStep, Journal, Record, State};
use std::path::{Path, PathBuf};

/// Each file's bytes before and after (None: absent).
pub type Bytes = Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>;

/// A transaction ready to run.
pub struct Txn {
    pub rec: Record,
    pub bytes: Bytes,
}

/// How a transaction ended.
pub struct Outcome {
    pub id: String,
    pub journal: PathBuf,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// What the undo could not restore (exit 3 when not empty).
    pub left: Vec<String>,
}

impl Outcome {
    /// The exit code (README, "Fixing it"): 0 done, 1 failed and restored, 3 failed and
    /// not restored.
    pub fn code(&self) -> i32 {
        match (&self.error, self.left.is_empty()) {
            (None, _) => 0,
            (Some(_), true) => 1,
            (Some(_), false) => 3,
        }
    }
}

/// The live value of a key in the current namespace.
pub fn read_live(key: &str) -> Option<String> {
    match Reader::new(LiveSource::Kernel).read(key) {
        Reading::Value(v) => Some(v),
        _ => None,
    }
}

/// Two sysctl values alike field by field (the kernel prints tabs, files use spaces).
pub fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Writes a key and reads it back. The kernel never clamps: a value is stored as
/// written or refused (docs/kernel.md §2).
fn write_live(key: &str, value: &str) -> Result<()> {
    crate::catalog::validate_key_name(key).map_err(|e| anyhow!(e))?;
    use sysctl::Sysctl;
    let ctl = sysctl::Ctl::new(key).map_err(|e| anyhow!("{key}: {e}"))?;
    if let Err(e) = ctl.set_value_string(value) {
        return Err(match e {
            sysctl::SysctlError::IoError(io) if io.raw_os_error() == Some(libc::EINVAL) => {
                anyhow!("the kernel refused {key} = {value} (EINVAL: not a value it accepts)")
            }
            other => anyhow!("writing {key} = {value}: {other}"),
        });
    }
    match read_live(key) {
        Some(v) if same_value(&v, value) => Ok(()),
        Some(v) => bail!("{key}: wrote {value}, the kernel reads back {v}"),
        None => bail!("{key}: wrote {value}, and it cannot be read back"),
    }
}

/// Journals and runs the transaction. An error means nothing was changed (the journal
/// could not be written); a failed step is an Outcome with `error` set.
pub fn run(state: &Path, txn: Txn) -> Result<Outcome> {
    let j = Journal::create(state, txn.rec, &txn.bytes)?;
    let result = fault::boundary("journal").and_then(|()| steps(&j));
    Ok(finish(&j, result))
}

fn finish(j: &Journal, result: Result<()>) -> Outcome {
    let mut out = Outcome {
        id: j.rec.id.clone(),
        journal: j.dir.clone(),
        error: None,
        left: Vec::new(),
    };
    match result {
        Ok(()) => {
            if let Err(e) = j.finish(State::Committed) {
                out.error = Some(format!("{e:#}"));
                out.left = undo(j);
            }
        }
        Err(e) => {
            out.error = Some(format!("{e:#}"));
            out.left = undo(j);
        }
    }
    if out.error.is_some() && out.left.is_empty() {
        if let Err(e) = j.finish(State::Failed) {
            out.left
                .push(format!("marking the journal finished: {e:#}"));
        }
    }
    out
}

fn steps(j: &Journal) -> Result<()> {
    let rec = &j.rec;
    for c in &rec.live {
        j.progress(&format!("live {}", c.key))?;
        fault::boundary(&format!("begin-live:{}", c.key))?;
        write_live(&c.key, &c.after)?;
        fault::boundary(&format!("live:{}", c.key))?;
    }
    for (i, f) in rec.files.iter().enumerate() {
        j.progress(&format!("file {i}"))?;
        fault::boundary(&format!("begin-file:{}", f.path.display()))?;
        write_file(j, i, f)?;
        fault::boundary(&format!("file:{}", f.path.display()))?;
    }
    if let Some(n) = &rec.nginx {
        if rec
            .files
            .iter()
            .any(|f| f.kind == crate::plan::FileKind::Nginx)
        {
            nginx::test(n)?;
            fault::boundary("nginx-test")?;
        }
        if let Some(what) = n.control {
            j.progress("nginx-control")?;
            nginx::control(n, what, "nginx-stopped")?;
            fault::boundary("nginx-control")?;
            nginx::expect(&nginx::wanted(n, what))?;
            fault::boundary("nginx-verify")?;
        }
    }
    verify(j, Side::After).map_err(|left| anyhow!("{}", left.join("; ")))?;
    fault::boundary("verify")
}

fn write_file(j: &Journal, i: usize, f: &FileStep) -> Result<()> {
    let root = &j.rec.root;
    let now = fsio::read(root, &f.real)?;
    let before = j.before(i)?;
    if now.as_ref().map(|(b, _)| b) != before.as_ref() {
        bail!(
            "{} changed since tuneguard read it; nothing of it was written",
            f.path.display()
        );
    }
    match (j.after(i)?, f.after) {
        (Some(bytes), Some(meta)) => fsio::write_atomic(root, &f.real, &bytes, meta),
        _ => fsio::remove(root, &f.real),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Before,
    After,
}

/// Whether every key and file holds its `side` value; what does not, when not.
fn verify(j: &Journal, side: Side) -> std::result::Result<(), Vec<String>> {
    let mut wrong = Vec::new();
    for c in &j.rec.live {
        let want = if side == Side::After {
            &c.after
        } else {
            &c.before
        };
        match read_live(&c.key) {
            Some(v) if same_value(&v, want) => {}
            Some(v) => wrong.push(format!("{} is {v}, not {want}", c.key)),
            None => wrong.push(format!("{} cannot be read", c.key)),
        }
    }
    for (i, f) in j.rec.files.iter().enumerate() {
        let (want, meta) = match side {
            Side::After => (j.after(i), f.after),
            Side::Before => (j.before(i), f.before),
        };
        let want = match want {
            Ok(w) => w,
            Err(e) => {
                wrong.push(format!("{e:#}"));
                continue;
            }
        };
        match fsio::read(&j.rec.root, &f.real) {
            Ok(now) => {
                let ok = match (&now, &want, meta) {
                    (None, None, _) => true,
                    (Some((b, m)), Some(w), Some(wm)) => b == w && *m == wm,
                    _ => false,
                };
                if !ok {
                    wrong.push(format!(
                        "{} does not hold its {} bytes",
                        f.path.display(),
                        if side == Side::After { "new" } else { "old" }
                    ));
                }
            }
            Err(e) => wrong.push(format!("{e:#}")),
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong)
    }
}

/// Undoes whatever the transaction did, in reverse: files, live values, then nginx
/// (reloaded or restarted again, now with the old files and somaxconn). Returns what
/// could not be restored.
pub fn undo(j: &Journal) -> Vec<String> {
    fault::undoing();
    let mut left = Vec::new();
    for (i, f) in j.rec.files.iter().enumerate().rev() {
        fsio::clean_temp(&j.rec.root, &f.real);
        if let Err(e) = undo_file(j, i, f) {
            left.push(format!("{e:#}"));
        }
    }
    for c in j.rec.live.iter().rev() {
        match read_live(&c.key) {
            Some(v) if same_value(&v, &c.before) => {}
            Some(v) if same_value(&v, &c.after) => {
                if let Err(e) = write_live(&c.key, &c.before) {
                    left.push(format!("{e:#}"));
                }
            }
            Some(v) => left.push(format!(
                "{} is {v}, which this transaction did not write (it wrote {}; it was {}): left as it is",
                c.key, c.after, c.before
            )),
            None => left.push(format!("{} cannot be read to restore it to {}", c.key, c.before)),
        }
    }
    if let Some(n) = &j.rec.nginx {
        if let (Some(what), true) = (n.control, j.progressed("nginx-control")) {
            let again = match what {
                // A failed restart may have left nginx stopped: start it.
                Control::Restart => Control::Restart,
                Control::Reload if nginx::master().is_none() => Control::Restart,
                Control::Reload => Control::Reload,
            };
            let restored = nginx::control(n, again, "undo:nginx-stopped")
                .and_then(|()| nginx::expect(&nginx::restored(n, again)));
            if let Err(e) = restored {
                left.push(format!("nginx with the old configuration: {e:#}"));
            }
        }
    }
    if let Err(wrong) = verify(j, Side::Before) {
        for w in wrong {
            if !left.contains(&w) {
                left.push(w);
            }
        }
    }
    left
}

fn undo_file(j: &Journal, i: usize, f: &FileStep) -> Result<()> {
    let before = j.before(i)?;
    let after = j.after(i)?;
    let root = &j.rec.root;
    let now = fsio::read(root, &f.real)?.map(|(b, _)| b);
    if now == before {
        return Ok(());
    }
    if now != after {
        bail!(
            "{} was changed by something else since this transaction wrote it: left as it is (its old bytes are in {})",
            f.path.display(),
            j.dir.join(format!("files/{i}.before")).display()
        );
    }
    match (before, f.before) {
        (Some(bytes), Some(meta)) => fsio::write_atomic(root, &f.real, &bytes, meta),
        _ => fsio::remove(root, &f.real),
    }
    .with_context(|| format!("restoring {}", f.path.display()))
}

/// Enters the namespace a journal wrote to (recover and rollback start in their own).
pub fn enter(rec: &Record) -> Result<()> {
    if let Some(p) = &rec.netns_path {
        crate::host::netns::enter(&crate::host::netns::Target::Netns(p.display().to_string()))
            .with_context(|| {
                format!(
                    "entering network namespace {} of transaction {}",
                    rec.netns, rec.id
                )
            })?;
    }
    Ok(())
}
