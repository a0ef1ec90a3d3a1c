//! apply, rollback, recover and history: read the host, plan, show, confirm, and hand
//! the transaction to `txn`. Exit codes (README): 0 done or nothing to do, 1 failed and
//! restored, 2 refused before changing anything (an error), 3 failed and not restored.

use super::{read_host, write_stdout};
use crate::audit;
use crate::cli::{ApplyFlags, Confirm, PlanFormat, Select};
use crate::host::nginx::discover;
use crate::host::nginx::listen::When;
use crate::host::{LiveSource, NginxState, Snapshot};
use crate::plan::{self, Plan};
use crate::profile::Library;
use crate::report::escape;
use crate::report::plan as show;
use crate::report::style::Style;
use crate::safety::exec::{self, Program};
use crate::safety::journal::{self as judge, Use};
use crate::safety::state as trust;
use crate::txn::journal::{self, Control, FileStep, Journal, NginxStep, Record, State};
use crate::txn::{self, fsio, lock::Lock, Outcome, Txn};
use crate::words::count;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Every journal in the state directory, each record checked for `use_` (see
/// safety::journal): one that says what tuneguard never writes refuses the command.
fn journals(state: &Path, use_: Use) -> Result<Vec<Journal>> {
    let all = journal::list(state)?;
    for j in &all {
        judge::check(j, use_)?;
    }
    Ok(all)
}

/// Journals no process finished.
fn open_journals(state: &Path, use_: Use) -> Result<Vec<Journal>> {
    Ok(journals(state, use_)?
        .into_iter()
        .filter(|j| j.state().is_none())
        .collect())
}

/// The state directory checked (and made when missing): see safety::state.
fn state_dir(state: &Path) -> Result<PathBuf> {
    Ok(trust::dir(state, true)?.expect("made when missing"))
}

/// The locks of a transaction's target, taken in the namespace it writes to (entered).
fn target_lock(netns: &str, files: impl Iterator<Item = PathBuf>) -> Result<Lock> {
    let dirs: Vec<PathBuf> = files
        .filter_map(|p| p.parent().and_then(|d| std::fs::canonicalize(d).ok()))
        .collect();
    Lock::target(netns, &dirs)
}

/// Refuses while a transaction a crash interrupted stands.
fn refuse_open(state: &Path) -> Result<()> {
    let open = open_journals(state, Use::Show)?;
    if let Some(j) = open.first() {
        bail!(
            "transaction {} was interrupted (pid {} did not finish it; journal {}): nothing was changed; run `tuneguard recover --state-dir {}` first",
            j.rec.id,
            j.rec.pid,
            j.dir.display(),
            state.display()
        );
    }
    Ok(())
}

/// Everything apply decided, before it acts: the host as read, the audit, the plan and
/// how to reach nginx. Holds the lock (none for a dry run) until dropped.
pub struct Prepared {
    pub sel: crate::cli::Selected,
    pub snap: Snapshot,
    pub profile_names: Vec<String>,
    pub findings: Vec<crate::audit::Finding>,
    pub plan: Plan,
    nginx: Option<NginxStep>,
    /// Something to change (a restart alone counts when asked for and needed).
    pub work: bool,
    _lock: Option<Lock>,
    _target: Option<Lock>,
}

/// Reads, audits and plans. The dry run takes no lock and writes nothing.
pub fn prepare(select: &Select, flags: &ApplyFlags) -> Result<Prepared> {
    if !flags.dry_run {
        trust::require_root("apply")?;
    }
    let mut sel = select.resolve()?;
    if sel.all_netns {
        bail!("--all-netns is for audit: apply changes one namespace at a time (--netns NAME or --pid PID)");
    }
    if sel.live != LiveSource::Kernel {
        bail!("apply changes the running kernel; --proc reads a captured or absent one (use audit for that)");
    }
    // The journal records where the files are for good: rollback and recover may run
    // from another directory.
    sel.root = std::fs::canonicalize(&sel.root)
        .with_context(|| format!("resolving --root {}", sel.root.display()))?;
    let library = Library::load(&sel.root)?;
    let profile = library.select(&sel.profiles)?;
    let lock = if flags.dry_run {
        if let Some(state) = trust::dir(&sel.state_dir, false)? {
            refuse_open(&state)?;
        }
        None
    } else {
        sel.state_dir = state_dir(&sel.state_dir)?;
        let lock = Lock::take(&sel.state_dir)?;
        refuse_open(&sel.state_dir)?;
        Some(lock)
    };
    let snap = read_host(&sel, &profile)?;
    let findings = audit::audit(&snap, &profile, audit::Scope { sysctl: sel.sysctl });
    let mut plan = plan::plan(
        &snap,
        &profile,
        &findings,
        &plan::Options {
            persist: !flags.no_persist,
            allow_global: flags.allow_global,
            root: sel.root.clone(),
        },
    );
    let control = match (flags.nginx_reload, flags.nginx_restart) {
        (true, _) => Some(Control::Reload),
        (_, true) => Some(Control::Restart),
        _ => None,
    };
    for f in plan.files.iter().filter(|f| f.before.is_none()) {
        if let Some(dir) = f.real.parent().filter(|d| !d.is_dir()) {
            plan.refusals.push(format!(
                "{} would be created, but {} does not exist: create it (mode 0755), or pass --no-persist",
                f.path.display(),
                dir.display()
            ));
        }
    }
    let nginx = nginx_step(&snap, &mut plan, control, flags)?;
    // A reload or restart without an edit runs no `nginx -t` first: on a configuration
    // nginx refuses, a restart would leave nginx stopped and the undo could not start it.
    if let (Some(c), NginxState::Read(read)) = (control, &snap.nginx) {
        if let (Ok(cfg), Some(p)) = (
            &read.conf,
            read.model.problems.iter().find(|p| p.when == When::Test),
        ) {
            plan.refusals.push(format!(
                "--nginx-{}: nginx -t would refuse the configuration as it is ({}:{}: {}): a reload would not take it up and a restart would leave nginx stopped; fix it first",
                if c == Control::Reload { "reload" } else { "restart" },
                cfg.path(p.file).display(),
                p.line,
                p.message,
            ));
        }
    }
    if let Some(n) = &nginx {
        if control == Some(Control::Reload)
            && n.master.is_none()
            && n.command.is_none()
            && n.unit.is_none()
        {
            plan.refusals.push("--nginx-reload: nginx is not running in this namespace, so there is nothing to reload (--nginx-restart starts it)".into());
        }
    }
    match control {
        Some(Control::Reload) => {
            let notes: Vec<String> = plan
                .restart_needed()
                .iter()
                .map(|s| format!("{}: a reload keeps its live max backlog {}; only a restart (--nginx-restart) gives it {}", s.addr, list(&s.live), s.expected))
                .collect();
            plan.notes.extend(notes);
        }
        None if !plan.restart_needed().is_empty() || plan.relistens() => {
            let stale: Vec<&str> = plan.sockets.iter().map(|s| s.addr.as_str()).collect();
            plan.notes.push(format!(
                "nginx keeps its sockets' current caps until it listens again: {} (--nginx-reload re-listens sockets whose backlog= changes, --nginx-restart all)",
                stale.join(", ")
            ));
        }
        _ => {}
    }
    let restart_work = control == Some(Control::Restart) && !plan.restart_needed().is_empty();
    let work = !plan.is_empty() || restart_work;
    // In the namespace read_host entered: the one written to.
    let target = match flags.dry_run {
        true => None,
        false => Some(target_lock(
            &snap.netns.label,
            plan.files.iter().map(|f| f.real.clone()),
        )?),
    };
    Ok(Prepared {
        sel,
        snap,
        profile_names: profile.names,
        findings,
        plan,
        nginx,
        work,
        _lock: lock,
        _target: target,
    })
}

/// Journals and runs the prepared plan.
pub fn execute(p: &mut Prepared) -> Result<Outcome> {
    let txn = build(
        &p.sel.root,
        &p.snap,
        &p.sel,
        &p.profile_names,
        &p.plan,
        p.nginx.take(),
    )?;
    txn::run(&p.sel.state_dir, txn)
}

/// A transaction's end, for JSON.
pub fn outcome_json(o: &Outcome) -> serde_json::Value {
    json!({
        "id": o.id,
        "journal": o.journal,
        "state": match o.code() { 0 => "committed", 1 => "failed", _ => "incomplete" },
        "error": o.error,
        "left": o.left,
    })
}

pub fn apply(select: Select, flags: ApplyFlags, format: PlanFormat, style: Style) -> Result<i32> {
    let mut p = prepare(&select, &flags)?;
    let state = p.sel.state_dir.clone();
    let header = format!(
        "tuneguard apply{} · {} · netns {} · profile {}",
        if flags.dry_run { " --dry-run" } else { "" },
        p.snap.hostname,
        p.snap.netns.label,
        p.profile_names.join(" + ")
    );
    let json_out = |p: &Prepared, outcome: Option<&Outcome>, changed: bool| {
        let v = json!({
            "schema": "tuneguard.apply/v1",
            "dry_run": flags.dry_run,
            "changed": changed,
            "netns": p.snap.netns.label,
            "profiles": p.profile_names,
            "plan": show::json(&p.plan),
            "transaction": outcome.map(outcome_json),
        });
        serde_json::to_string_pretty(&v).expect("serializable") + "\n"
    };
    let shown = match format {
        PlanFormat::Text => show::text(&p.plan, &header, style),
        PlanFormat::Json => String::new(),
    };
    if !p.plan.refusals.is_empty() {
        match format {
            PlanFormat::Text => write_stdout(&shown)?,
            PlanFormat::Json => write_stdout(&json_out(&p, None, false))?,
        }
        bail!(
            "apply refused before changing anything: {}",
            p.plan.refusals.join("; ")
        );
    }
    if format == PlanFormat::Text {
        write_stdout(&shown)?;
    }
    if !p.work || flags.dry_run {
        if format == PlanFormat::Json {
            write_stdout(&json_out(&p, None, false))?;
        } else if !p.work {
            write_stdout("nothing to do: no change needed\n")?;
        } else {
            write_stdout("dry run: nothing was changed\n")?;
        }
        return Ok(0);
    }
    if !flags.yes {
        confirm(
            "apply",
            &format!(
                "Apply {} and {}?",
                count(p.plan.live.len(), "live change"),
                count(p.plan.files.len(), "file edit")
            ),
        )?;
    }
    let outcome = execute(&mut p)?;
    match format {
        // A failed apply that restored everything changed nothing, as the Ansible module says.
        PlanFormat::Json => {
            let changed = outcome.error.is_none() || !outcome.left.is_empty();
            write_stdout(&json_out(&p, Some(&outcome), changed))?
        }
        PlanFormat::Text => tell("apply", &outcome, &state)?,
    }
    Ok(outcome.code())
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join("/")
}

/// Asks on a terminal; refuses without one (a script must say --yes). `what` is the
/// command (apply, rollback, recover), `question` what it asks.
fn confirm(what: &str, question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("stdin is not a terminal, so {what} cannot ask for confirmation: nothing was changed; pass --yes to {what} without asking (or --dry-run to only look)");
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

fn tell(what: &str, o: &Outcome, state: &Path) -> Result<()> {
    let text = match (&o.error, o.left.is_empty()) {
        (None, _) => format!(
            "applied: transaction {} (journal {}); undo it with `tuneguard rollback {} --state-dir {}`\n",
            o.id,
            o.journal.display(),
            o.id,
            state.display()
        ),
        (Some(e), true) => format!(
            "{what} failed: {e}\neverything it had changed was restored (transaction {}, journal {})\n",
            o.id,
            o.journal.display()
        ),
        (Some(e), false) => format!(
            "{what} failed: {e}\nand could NOT restore everything (journal {}):\n  {}\nfix what is listed, then run `tuneguard recover --state-dir {}`\n",
            o.journal.display(),
            o.left.join("\n  "),
            state.display()
        ),
    };
    // Errors quote files and what the kernel or nginx said: escaped (report::escape).
    let text = escape::block(&text);
    if o.error.is_some() {
        eprint!("{text}");
        Ok(())
    } else {
        write_stdout(&text)
    }
}

/// `--nginx-bin`, refused (exit 2) unless safety::exec allows running it.
fn nginx_bin(flags: &ApplyFlags) -> Result<Option<Program>> {
    flags
        .nginx_bin
        .as_ref()
        .map(|b| {
            exec::check(b).map_err(|u| {
                anyhow::anyhow!("--nginx-bin {}: refused, tuneguard runs it as root and {u}: nothing was changed", b.display())
            })
        })
        .transpose()
}

/// The binary for `nginx -t` and a start when the master's own may not be run (or no
/// master runs): `--nginx-bin`, else the first nginx in PATH that may be run.
fn fallback_binary(given: Option<Program>, notes: &mut Vec<String>) -> Result<Program> {
    if let Some(p) = given {
        return Ok(p);
    }
    let searched = exec::in_path("nginx");
    notes.extend(searched.notes("nginx"));
    searched.found.with_context(|| {
        let passed_over = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        format!("no nginx binary that may be run as root to test the edited configuration{passed_over}: nothing was changed; give --nginx-bin FILE (owned by root, not writable by group or others, nor any directory above it)")
    })
}

/// How to reach nginx: its running master (binary, arguments, systemd unit), or the
/// binary to test and start it with. Only a master running as root is used, and only
/// binaries safety::exec allows are run; the plan's notes say what was passed over.
fn nginx_step(
    snap: &Snapshot,
    plan: &mut Plan,
    control: Option<Control>,
    flags: &ApplyFlags,
) -> Result<Option<NginxStep>> {
    let given = nginx_bin(flags)?;
    let NginxState::Read(read) = &snap.nginx else {
        if control.is_some() {
            bail!(
                "--nginx-reload/--nginx-restart: no nginx configuration was read ({})",
                match &snap.nginx {
                    NginxState::NotFound(w) => w.clone(),
                    _ => "nginx checks are off".into(),
                }
            );
        }
        return Ok(None);
    };
    if plan.nginx_main.is_none() && control.is_none() {
        return Ok(None);
    }
    let live = snap.listeners.as_ref().and_then(|l| l.as_ref().ok());
    let masters = live.map(discover::masters).unwrap_or_default();
    let mut notes = masters.ignored;
    let master = masters.trusted;
    let main = main_real(read);
    // nginx -t runs when a file is edited, nginx itself on a reload or restart: as root,
    // on every file of the configuration, which must then be root's alone.
    if let Ok(conf) = &read.conf {
        let files: Vec<&Path> = conf.files.iter().map(|f| f.real.as_path()).collect();
        if let Err(u) = exec::config_may_be_run(&files) {
            plan.refusals.push(format!(
                "tuneguard runs nginx (nginx -t, a reload or a start) as root only on a configuration no other user can change, and {u}"
            ));
        }
    }
    let command = match &flags.nginx_cmd {
        None => None,
        Some(cmd) => {
            // Journaled absolute and resolved: recover may run with another PATH or
            // directory, and a link another user can swap must not stand in for it.
            let mut argv = cmd.0.clone();
            // The program must be one only root can change, as every program tuneguard
            // runs (safety::exec).
            let prog = if !argv[0].contains('/') {
                let found = exec::in_path(&argv[0]);
                notes.extend(found.notes(&argv[0]));
                found
                    .found
                    .with_context(|| {
                        format!(
                            "--nginx-cmd: no `{}` in PATH that only root can change",
                            argv[0]
                        )
                    })?
                    .path
            } else {
                let given = if Path::new(&argv[0]).is_absolute() {
                    PathBuf::from(&argv[0])
                } else {
                    std::fs::canonicalize(&argv[0])
                        .with_context(|| format!("--nginx-cmd: resolving {}", argv[0]))?
                };
                exec::check(&given)
                    .map_err(|u| anyhow::anyhow!("--nginx-cmd: {u}"))?
                    .path
            };
            argv[0] = prog.display().to_string();
            Some(argv)
        }
    };
    let (binary, args, unit) = match &master {
        Some(p) => {
            let binary = match exec::program_of(p, discover::MASTER) {
                Ok(b) => b,
                Err(why) => {
                    notes.push(why);
                    let b = fallback_binary(given, &mut notes)?;
                    notes.push(format!(
                        "nginx will be tested and started with {} instead",
                        b.path.display()
                    ));
                    b
                }
            };
            notes.extend(exec::differs(&binary, p, discover::MASTER));
            (
                binary.path,
                discover::master_args(&p.title),
                discover::systemd_unit(p).filter(|u| judge::unit_name(u)),
            )
        }
        None => (
            fallback_binary(given, &mut notes)?.path,
            vec!["-c".to_string(), main.display().to_string()],
            None,
        ),
    };
    plan.notes.extend(notes);
    // Where nginx listens now, and with what cap: what an undo must bring back.
    let before: Vec<(String, u32)> = match (live, &read.conf) {
        (Some(l), Ok(_)) => read
            .model
            .sockets
            .iter()
            .filter(|s| !s.udp)
            .filter_map(|s| Some((s.addr.to_string(), *plan::nginx::live_caps(l, s).first()?)))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Some(NginxStep {
        main,
        binary,
        args,
        control,
        command,
        unit,
        master: master.map(|p| p.pid),
        sockets: plan.sockets.clone(),
        listeners_before: before,
    }))
}

/// The main configuration on disk (under --root when given).
/// The main configuration on disk (under --root when given, links resolved there), for
/// `nginx -t`: the tree's own, also when only an included file is edited.
fn main_real(read: &crate::host::NginxRead) -> PathBuf {
    match &read.conf {
        Ok(c) => c.files[c.main.0].real.clone(),
        Err(_) => read.main.clone(),
    }
}

fn base_record(
    kind: &str,
    of: Option<String>,
    state: &Path,
    root: &Path,
    netns: (&str, Option<PathBuf>),
    profiles: &[String],
) -> Record {
    let now = journal::now();
    Record {
        id: journal::new_id(state, now),
        kind: kind.into(),
        of,
        started: now,
        pid: std::process::id(),
        hostname: crate::txn::read_live("kernel.hostname").unwrap_or_default(),
        netns: netns.0.to_string(),
        netns_path: netns.1,
        root: root.to_path_buf(),
        profiles: profiles.to_vec(),
        live: Vec::new(),
        files: Vec::new(),
        nginx: None,
    }
}

fn build(
    root: &Path,
    snap: &Snapshot,
    sel: &crate::cli::Selected,
    profiles: &[String],
    plan: &Plan,
    nginx: Option<NginxStep>,
) -> Result<Txn> {
    let mut rec = base_record(
        "apply",
        None,
        &sel.state_dir,
        root,
        (&snap.netns.label, sel.netns.as_ref().map(|t| t.path())),
        profiles,
    );
    rec.live = plan.live.clone();
    let mut bytes = Vec::new();
    for f in &plan.files {
        let now = fsio::read(root, &f.real)?;
        if now.as_ref().map(|(b, _)| b) != f.before.as_ref() {
            bail!(
                "{} changed while the plan was made: nothing was changed; run apply again",
                f.path.display()
            );
        }
        let meta = now.map(|(_, m)| m);
        rec.files.push(FileStep {
            kind: f.kind,
            path: f.path.clone(),
            real: f.real.clone(),
            before: meta,
            after: Some(meta.unwrap_or(fsio::NEW_FILE)),
        });
        bytes.push((f.before.clone(), Some(f.after.clone())));
    }
    rec.nginx = nginx;
    Ok(Txn { rec, bytes })
}

pub fn rollback(
    id: Option<String>,
    last: bool,
    force: bool,
    ask: Confirm,
    state: &Path,
    style: Style,
) -> Result<i32> {
    match ask.dry_run {
        true => trust::require_root_to_look("rollback --dry-run")?,
        false => trust::require_root("rollback")?,
    }
    // A dry run changes nothing, not even the state directory, and takes no lock.
    let (state, _lock) = if ask.dry_run {
        match trust::dir(state, false)? {
            Some(s) => (s, None),
            None => bail!(
                "no transactions in {}: nothing to roll back",
                state.display()
            ),
        }
    } else {
        let s = state_dir(state)?;
        let lock = Lock::take(&s)?;
        (s, Some(lock))
    };
    let state = &state;
    refuse_open(state)?;
    let all = journals(state, Use::Show)?;
    let target = match (&id, last) {
        (Some(id), _) => all.iter().find(|j| &j.rec.id == id).with_context(|| {
            format!(
                "no transaction {id} in {} (`tuneguard history` lists them)",
                state.display()
            )
        })?,
        (None, true) => all
            .iter()
            .rev()
            .find(|j| {
                j.rec.kind == "apply"
                    && j.state() == Some(State::Committed)
                    && j.rolled_back_by().is_none()
            })
            .with_context(|| {
                format!(
                    "no committed apply left to roll back in {}",
                    state.display()
                )
            })?,
        (None, false) => bail!("rollback needs a transaction id or --last"),
    };
    if target.state() != Some(State::Committed) {
        bail!(
            "transaction {} did not commit ({}): there is nothing of it to roll back",
            target.rec.id,
            target.state().map_or("open", State::as_str)
        );
    }
    if let Some(by) = target.rolled_back_by() {
        bail!(
            "transaction {} was already rolled back by {by}",
            target.rec.id
        );
    }
    judge::check(target, Use::Act)?;
    txn::enter(&target.rec)?;
    let _target = match ask.dry_run {
        true => None,
        false => Some(target_lock(
            &target.rec.netns,
            target.rec.files.iter().map(|f| f.real.clone()),
        )?),
    };
    let (txn, changed) = reverse(target, state)?;
    let mut plan = txn::preview::of_txn(&txn, &target.rec.id);
    if !changed.is_empty() {
        let since = format!("since transaction {} {}", target.rec.id, changed.join("; "));
        match force {
            true => plan.notes.push(format!("{since}: --force overwrites that")),
            false => plan.refusals.push(format!(
                "{since} (--force rolls back anyway, overwriting that)"
            )),
        }
    }
    let header = format!(
        "tuneguard rollback{} · transaction {} · netns {} · profile {}",
        if ask.dry_run { " --dry-run" } else { "" },
        target.rec.id,
        target.rec.netns,
        target.rec.profiles.join(" + ")
    );
    write_stdout(&show::text(&plan, &header, style))?;
    if !plan.refusals.is_empty() {
        bail!(
            "rollback of {} refused: what it wrote changed after it ran ({}); nothing was rolled back (--force rolls back anyway, overwriting that)",
            target.rec.id,
            changed.join("; ")
        );
    }
    if ask.dry_run {
        write_stdout("dry run: nothing was changed\n")?;
        return Ok(0);
    }
    if !ask.yes {
        confirm(
            "rollback",
            &format!("Roll back transaction {}?", target.rec.id),
        )?;
    }
    let outcome = {
        let _status = nginx_status("rollback", &target.rec);
        txn::run(state, txn)?
    };
    if outcome.error.is_none() {
        target.mark_rolled_back(&outcome.id)?;
        write_stdout(&escape::block(&format!(
            "rolled back {} (transaction {}):\n{}",
            target.rec.id,
            outcome.id,
            restored_lines(&plan)
        )))?;
    } else {
        tell("rollback", &outcome, state)?;
    }
    Ok(outcome.code())
}

/// `  KEY OLD → NEW` and `  FILE restored`, one line each, or a line saying nothing
/// differed.
fn restored_lines(plan: &Plan) -> String {
    let lines = txn::preview::restored(plan);
    if lines.is_empty() {
        return "  nothing differed: every value and file already held what it restores\n".into();
    }
    lines.iter().map(|l| format!("  {l}\n")).collect()
}

/// On a terminal, a status line while nginx is reloaded or restarted and its sockets are
/// awaited (seconds, with a slow nginx); cleared when dropped.
fn nginx_status(what: &str, rec: &Record) -> Option<crate::report::status::Status> {
    let c = rec.nginx.as_ref()?.control?;
    Some(crate::report::status::Status::show(&format!(
        "{what} {}: {} nginx and waiting for its sockets…",
        rec.id,
        match c {
            Control::Reload => "reloading",
            Control::Restart => "restarting",
        }
    )))
}

/// The transaction that undoes a committed one, and what changed since it (the
/// refusal's reasons). With changes, "before" is what is there now.
fn reverse(j: &Journal, state: &Path) -> Result<(Txn, Vec<String>)> {
    let old = &j.rec;
    let mut rec = base_record(
        "rollback",
        Some(old.id.clone()),
        state,
        &old.root,
        (&old.netns, old.netns_path.clone()),
        &old.profiles,
    );
    let mut changed = Vec::new();
    for c in &old.live {
        let now = txn::read_live(&c.key).with_context(|| format!("{} cannot be read", c.key))?;
        if !txn::same_value(&now, &c.after) {
            changed.push(format!("{} is {now}, not the {} it wrote", c.key, c.after));
        }
        rec.live.push(plan::LiveChange {
            key: c.key.clone(),
            before: now,
            after: c.before.clone(),
            why: format!("rollback of {}", old.id),
            host_wide: c.host_wide,
        });
    }
    let mut bytes = Vec::new();
    for (i, f) in old.files.iter().enumerate() {
        let now = fsio::read(&old.root, &f.real)?;
        if now.as_ref().map(|(b, _)| b.clone()) != j.after(i)? {
            changed.push(format!("{} is not what it wrote", f.path.display()));
        }
        rec.files.push(FileStep {
            kind: f.kind,
            path: f.path.clone(),
            real: f.real.clone(),
            before: now.as_ref().map(|(_, m)| *m),
            after: f.before,
        });
        bytes.push((now.map(|(b, _)| b), j.before(i)?));
    }
    // somaxconn once the rollback's live values are back: what listen() will be capped at.
    let cap = rec
        .live
        .iter()
        .find(|c| c.key == "net.core.somaxconn")
        .map(|c| c.after.clone())
        .or_else(|| txn::read_live("net.core.somaxconn"))
        .and_then(|v| v.trim().parse::<u32>().ok());
    rec.nginx = old.nginx.clone().map(|mut n| {
        // The sockets whose backlog number the apply changed change back: after the
        // rollback's reload or restart they must show the old number (within somaxconn),
        // as the apply's own step checked the new one.
        n.sockets = n
            .sockets
            .iter()
            .filter(|s| s.relisten)
            .map(|s| plan::nginx::SocketPlan {
                addr: s.addr.clone(),
                before: s.after,
                after: s.before,
                expected: cap.map_or(s.before as u32, |c| (s.before as u32).min(c)),
                live: Vec::new(),
                relisten: true,
            })
            .collect();
        // An undo of this rollback brings back what listens now, not what listened
        // before the apply.
        let known: Vec<String> = n
            .listeners_before
            .iter()
            .map(|(a, _)| a.clone())
            .chain(n.sockets.iter().map(|s| s.addr.clone()))
            .collect();
        let mut now: Vec<(String, u32)> = Vec::new();
        for (a, c) in txn::nginx::live_caps().unwrap_or_default() {
            if known.contains(&a) && !now.iter().any(|(b, _)| *b == a) {
                now.push((a, c));
            }
        }
        n.listeners_before = now;
        n.master = txn::nginx::master();
        n
    });
    Ok((Txn { rec, bytes }, changed))
}

pub fn recover(ask: Confirm, state: &Path, style: Style) -> Result<i32> {
    match ask.dry_run {
        true => trust::require_root_to_look("recover --dry-run")?,
        false => trust::require_root("recover")?,
    }
    // A dry run changes nothing, not even the state directory, and takes no lock.
    let (state, _lock) = if ask.dry_run {
        match trust::dir(state, false)? {
            Some(s) => (s, None),
            None => (state.to_path_buf(), None),
        }
    } else {
        let s = state_dir(state)?;
        let lock = Lock::take(&s)?;
        (s, Some(lock))
    };
    let state = &state;
    // Every open journal checked before any is acted on.
    let open = match state.is_dir() {
        true => open_journals(state, Use::Act)?,
        false => Vec::new(),
    };
    if open.is_empty() {
        write_stdout(&format!(
            "nothing to recover: no interrupted transaction in {}\n",
            state.display()
        ))?;
        return Ok(0);
    }
    let mut code = 0;
    for j in open {
        txn::enter(&j.rec)?;
        let _target = match ask.dry_run {
            true => None,
            false => Some(target_lock(
                &j.rec.netns,
                j.rec.files.iter().map(|f| f.real.clone()),
            )?),
        };
        let plan = txn::preview::of_undo(&j)?;
        let header = format!(
            "tuneguard recover{} · transaction {} (pid {} did not finish it) · netns {}",
            if ask.dry_run { " --dry-run" } else { "" },
            j.rec.id,
            j.rec.pid,
            j.rec.netns
        );
        write_stdout(&show::text(&plan, &header, style))?;
        if ask.dry_run {
            continue;
        }
        if !ask.yes {
            confirm(
                "recover",
                &format!("Undo interrupted transaction {}?", j.rec.id),
            )?;
        }
        let left = {
            let _status = nginx_status("recover", &j.rec);
            txn::undo(&j)
        };
        if left.is_empty() {
            j.finish(State::Recovered)?;
            write_stdout(&escape::block(&format!(
                "recovered {}: everything it changed is restored:\n{}",
                j.rec.id,
                restored_lines(&plan)
            )))?;
        } else {
            code = 3;
            eprintln!(
                "{}",
                escape::block(&format!(
                    "could not restore everything of {} (journal {}):\n  {}",
                    j.rec.id,
                    j.dir.display(),
                    left.join("\n  ")
                ))
            );
        }
    }
    if ask.dry_run {
        write_stdout("dry run: nothing was changed\n")?;
    }
    Ok(code)
}

pub fn history(state: &Path, format: PlanFormat) -> Result<i32> {
    let all = match trust::dir(state, false)? {
        Some(dir) => journals(&dir, Use::Show)?,
        None => Vec::new(),
    };
    let rows: Vec<serde_json::Value> = all
        .iter()
        .map(|j| {
            json!({
                "id": j.rec.id,
                "kind": j.rec.kind,
                "of": j.rec.of,
                "state": j.state().map_or("interrupted", State::as_str),
                "rolled_back_by": j.rolled_back_by(),
                "started": j.rec.started,
                "netns": j.rec.netns,
                "profiles": j.rec.profiles,
                "live": j.rec.live,
                "files": j.rec.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
                "journal": j.dir,
            })
        })
        .collect();
    let out = match format {
        PlanFormat::Json => {
            serde_json::to_string_pretty(
                &json!({ "schema": "tuneguard.history/v1", "transactions": rows }),
            )? + "\n"
        }
        PlanFormat::Text if rows.is_empty() => format!("no transactions in {}\n", state.display()),
        PlanFormat::Text => {
            let mut s = String::new();
            for j in &all {
                let st = match (j.state(), j.rolled_back_by()) {
                    (Some(State::Committed), Some(by)) => format!("committed, rolled back by {by}"),
                    (Some(x), _) => x.as_str().to_string(),
                    (None, _) => "interrupted: run `tuneguard recover`".into(),
                };
                let what = match &j.rec.of {
                    Some(of) => format!("rollback of {of}"),
                    None => format!("apply ({})", j.rec.profiles.join(" + ")),
                };
                s.push_str(&format!(
                    "{}  {:<28} netns {:<12} {} live, {:<8} {st}\n",
                    j.rec.id,
                    what,
                    j.rec.netns,
                    j.rec.live.len(),
                    count(j.rec.files.len(), "file")
                ));
            }
            escape::block(&s).into_owned()
        }
    };
    write_stdout(&out)?;
    Ok(0)
}
