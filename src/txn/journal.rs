//! The journal: everything needed to undo a transaction, on disk and fsync'd before the
//! first change. One directory per transaction under `STATE_DIR/journal/ID/`:
//! - `record.json`: what the transaction changes (live keys with old and new values,
//!   files with old and new mode and owner, the nginx step);
//! - `files/N.before`, `files/N.after`: the bytes of file N before and after (absent
//!   when the file did not exist, or is removed);
//! - `progress`: one line per step begun, appended and fsync'd as it goes;
//! - `state`: written last, when the transaction ends (`committed`, `failed`,
//!   `recovered`). A journal without it is open: its process was killed, or it failed
//!   and could not restore everything, and `recover` must finish it.
//! - `rolled-back-by`: the id of the rollback that undid a committed transaction.

use super::fsio::Meta;
use crate::plan::nginx::SocketPlan;
use crate::plan::{FileKind, LiveChange};
use crate::safety::state as trust;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileStep {
    pub kind: FileKind,
    pub path: PathBuf,
    pub real: PathBuf,
    /// None: the file did not exist.
    pub before: Option<Meta>,
    /// None: the step removes the file.
    pub after: Option<Meta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    Reload,
    Restart,
}

/// How to reach the running nginx again, also from `recover` after a crash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NginxStep {
    /// The main configuration on disk, for `nginx -t`.
    pub main: PathBuf,
    pub binary: PathBuf,
    /// `-p`, `-c`, `-g` as the master was started (without `-t`/`-s`).
    pub args: Vec<String>,
    pub control: Option<Control>,
    /// The command the user named (`--nginx-cmd`), as argv (its program absolute), run
    /// without a shell instead of systemd or signals.
    pub command: Option<Vec<String>>,
    /// The systemd unit nginx runs under, when it does.
    pub unit: Option<String>,
    pub master: Option<u32>,
    /// Sockets to check after a reload or restart.
    pub sockets: Vec<SocketPlan>,
    /// The live listeners before (address, max backlog), to check an undo against.
    pub listeners_before: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// `apply` or `rollback`.
    pub kind: String,
    /// For a rollback: the transaction it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// Seconds since the epoch.
    pub started: u64,
    pub pid: u32,
    pub hostname: String,
    /// The network namespace written to, by label, and the path to enter it again.
    pub netns: String,
    pub netns_path: Option<PathBuf>,
    pub root: PathBuf,
    pub profiles: Vec<String>,
    pub live: Vec<LiveChange>,
    pub files: Vec<FileStep>,
    pub nginx: Option<NginxStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Committed,
    Failed,
    Recovered,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Committed => "committed",
            State::Failed => "failed",
            State::Recovered => "recovered",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s.trim() {
            "committed" => Some(State::Committed),
            "failed" => Some(State::Failed),
            "recovered" => Some(State::Recovered),
            _ => None,
        }
    }
}

pub struct Journal {
    pub dir: PathBuf,
    pub rec: Record,
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// A new file of the journal (O_EXCL, O_NOFOLLOW), written and synced.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = trust::create(path)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Replaces `dir/name` whole: a new temp file (a leftover of a killed run removed
/// first, never followed), synced, renamed over it.
fn replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()))
        }
        _ => {}
    }
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name)).with_context(|| format!("renaming {}", tmp.display()))?;
    sync_dir(dir)
}

/// A journal file as text, checked (see safety::state::open); None when absent.
fn read_text(path: &Path) -> Result<Option<String>> {
    Ok(trust::read(path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

pub fn journal_dir(state: &Path) -> PathBuf {
    state.join("journal")
}

/// A sortable id: UTC time of day to the second, and a counter when two share a second.
pub fn new_id(state: &Path, now: u64) -> String {
    let (y, mo, d) = civil(now / 86400);
    let s = now % 86400;
    let base = format!(
        "{y:04}{mo:02}{d:02}-{:02}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let dir = journal_dir(state);
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !dir.join(id).exists())
        .expect("some id is free")
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's civil_from_days.
fn civil(days: u64) -> (i64, u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i64 + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Journal {
    /// Writes the journal, fsync'd, before anything is changed. `bytes[i]` are file i's
    /// bytes before and after.
    pub fn create(state: &Path, rec: Record, bytes: &super::Bytes) -> Result<Journal> {
        let parent = journal_dir(state);
        trust::mkdir(&parent)?;
        // Built under a temp name and renamed: a journal directory is whole or absent. A
        // leftover of a killed run is removed only when it is root's own directory
        // (remove_dir_all never follows links), then made afresh: mkdir fails if the
        // name was taken meanwhile.
        let tmp = parent.join(format!(".{}.tmp", rec.id));
        if std::fs::symlink_metadata(&tmp).is_ok() {
            trust::check_dir(&tmp)?;
            std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            let mut b = std::fs::DirBuilder::new();
            b.mode(0o700);
            b.create(&tmp)
                .and_then(|()| b.create(tmp.join("files")))
                .with_context(|| format!("creating {}", tmp.display()))?;
        }
        for (i, (before, after)) in bytes.iter().enumerate() {
            if let Some(b) = before {
                write_synced(&tmp.join(format!("files/{i}.before")), b)?;
            }
            if let Some(a) = after {
                write_synced(&tmp.join(format!("files/{i}.after")), a)?;
            }
        }
        sync_dir(&tmp.join("files"))?;
        write_synced(
            &tmp.join("record.json"),
            serde_json::to_string_pretty(&rec)?.as_bytes(),
        )?;
        write_synced(&tmp.join("progress"), b"")?;
        sync_dir(&tmp)?;
        let dir = parent.join(&rec.id);
        std::fs::rename(&tmp, &dir).with_context(|| format!("creating {}", dir.display()))?;
        sync_dir(&parent)?;
        Ok(Journal { dir, rec })
    }

    pub fn load(dir: &Path) -> Result<Journal> {
        let files = dir.join("files");
        if std::fs::symlink_metadata(&files).is_ok() {
            trust::check_dir(&files)?;
        }
        let path = dir.join("record.json");
        let text = read_text(&path)
            .with_context(|| format!("reading the journal {}", path.display()))?
            .with_context(|| format!("the journal {} is missing", path.display()))?;
        let rec = serde_json::from_str(&text)
            .with_context(|| format!("the journal {} is damaged", path.display()))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            rec,
        })
    }

    fn bytes(&self, i: usize, which: &str) -> Result<Option<Vec<u8>>> {
        trust::read(&self.dir.join(format!("files/{i}.{which}")))
    }

    pub fn before(&self, i: usize) -> Result<Option<Vec<u8>>> {
        self.bytes(i, "before")
    }

    pub fn after(&self, i: usize) -> Result<Option<Vec<u8>>> {
        self.bytes(i, "after")
    }

    /// Records that a step begins; synced, so `recover` knows what may have happened.
    pub fn progress(&self, step: &str) -> Result<()> {
        let mut f = trust::append(&self.dir.join("progress"))?;
        writeln!(f, "{step}")?;
        f.sync_all()?;
        Ok(())
    }

    pub fn progressed(&self, step: &str) -> bool {
        read_text(&self.dir.join("progress"))
            .ok()
            .flatten()
            .is_some_and(|t| t.lines().any(|l| l == step))
    }

    pub fn finish(&self, state: State) -> Result<()> {
        replace(&self.dir, "state", state.as_str().as_bytes())
    }

    pub fn state(&self) -> Option<State> {
        read_text(&self.dir.join("state"))
            .ok()
            .flatten()
            .and_then(|s| State::parse(&s))
    }

    pub fn mark_rolled_back(&self, by: &str) -> Result<()> {
        replace(&self.dir, "rolled-back-by", by.as_bytes())
    }

    pub fn rolled_back_by(&self) -> Option<String> {
        read_text(&self.dir.join("rolled-back-by"))
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
    }
}

/// Every journal in the state directory, oldest first; every directory checked before
/// it is read (safety::state), what the records say is checked by the caller
/// (safety::journal).
pub fn list(state: &Path) -> Result<Vec<Journal>> {
    let dir = journal_dir(state);
    if std::fs::symlink_metadata(&dir).is_ok() {
        trust::check_dir(&dir)?;
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let d = dir.join(n);
            trust::check_dir(&d)?;
            Journal::load(&d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1));
        // 2026-11-22
        assert_eq!(super::civil(20_779), (2026, 11, 22));
        assert_eq!(super::civil(11_016), (2000, 2, 29));
    }
}
