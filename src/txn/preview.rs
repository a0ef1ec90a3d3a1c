//! What an undo would restore, as a plan to show before it runs: `rollback` and
//! `recover` print it (a table and a diff per file, as apply's plan) with `--dry-run`,
//! before asking, and name it when done. Reads only.

use super::journal::{Control, Journal, Record};
use super::{read_live, same_value, Bytes, Txn};
use crate::plan::{FileChange, LiveChange, Plan};
use anyhow::Result;

/// The changes of a transaction not yet run (rollback's reverse of an apply): each live
/// value and file that would change, from what is there now to what it restores.
/// `id` is the transaction it undoes.
pub fn of_txn(txn: &Txn, id: &str) -> Plan {
    let mut plan = Plan {
        live: txn
            .rec
            .live
            .iter()
            .filter(|c| !same_value(&c.before, &c.after))
            .cloned()
            .collect(),
        ..Plan::default()
    };
    files(&txn.rec, &txn.bytes, id, &mut plan);
    nginx(&txn.rec, &mut plan);
    plan
}

/// What `recover` would do to an interrupted transaction, by the rules of `undo`: a value
/// or file is restored only when it holds what the transaction wrote; one that holds
/// something else is left as it is (a note says so).
pub fn of_undo(j: &Journal) -> Result<Plan> {
    let mut plan = Plan::default();
    let why = format!("undo of {}", j.rec.id);
    for c in &j.rec.live {
        match read_live(&c.key) {
            Some(v) if same_value(&v, &c.before) => {}
            Some(v) if same_value(&v, &c.after) => plan.live.push(LiveChange {
                key: c.key.clone(),
                before: v,
                after: c.before.clone(),
                why: why.clone(),
                host_wide: c.host_wide,
            }),
            Some(v) => plan.notes.push(format!(
                "{} is {v}, which {} did not write: it stays as it is",
                c.key, j.rec.id
            )),
            None => plan.notes.push(format!("{} cannot be read", c.key)),
        }
    }
    let mut bytes: Bytes = Vec::new();
    for (i, f) in j.rec.files.iter().enumerate() {
        let now = super::fsio::read(&j.rec.root, &f.real)?.map(|(b, _)| b);
        let before = j.before(i)?;
        if now != before && now != j.after(i)? {
            plan.notes.push(format!(
                "{} was changed by something else since {} wrote it: it stays as it is",
                f.path.display(),
                j.rec.id
            ));
            bytes.push((None, None));
            continue;
        }
        bytes.push((now, before));
    }
    files(&j.rec, &bytes, &j.rec.id, &mut plan);
    if j.rec.nginx.as_ref().and_then(|n| n.control).is_some() && j.progressed("nginx-control") {
        nginx(&j.rec, &mut plan);
    }
    Ok(plan)
}

/// How a file the undo deletes is described (the transaction had created it).
const REMOVED: &str = "removed: ";

/// Each file whose bytes would change: from `now` to `then` (None: removed). `id` is
/// the transaction undone.
fn files(rec: &Record, bytes: &Bytes, id: &str, plan: &mut Plan) {
    for (f, (now, then)) in rec.files.iter().zip(bytes) {
        if now == then {
            continue;
        }
        plan.files.push(FileChange {
            kind: f.kind,
            path: f.path.clone(),
            real: f.real.clone(),
            before: now.clone(),
            after: then.clone().unwrap_or_default(),
            removed: then.is_none(),
            why: vec![match then {
                Some(_) => format!("back to its bytes before {id}"),
                None => format!("{REMOVED}{id} created it"),
            }],
        });
    }
}

fn nginx(rec: &Record, plan: &mut Plan) {
    if let Some(c) = rec.nginx.as_ref().and_then(|n| n.control) {
        plan.notes.push(format!(
            "nginx is {} again, with the restored configuration and somaxconn",
            match c {
                Control::Reload => "reloaded",
                Control::Restart => "restarted",
            }
        ));
    }
}

/// One line per value and file the plan restores: what rollback and recover say when done.
pub fn restored(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .live
        .iter()
        .map(|c| format!("{} {} → {}", c.key, c.before, c.after))
        .collect();
    for f in &plan.files {
        out.push(format!(
            "{} {}",
            f.path.display(),
            match f.why.first() {
                Some(w) if w.starts_with(REMOVED) => "removed",
                _ => "restored",
            }
        ));
    }
    out
}
