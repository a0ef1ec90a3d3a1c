//! nginx as a transaction step: `nginx -t` against the edited files, a reload or a
//! restart (through the command the user named, systemd when nginx runs under a unit, or
//! nginx's own signals and binary with the master's own `-p`/`-c`/`-g`), and a check of
//! the listeners' live backlog through sock_diag. A reload is asynchronous: the check
//! polls for a few seconds.

use super::journal::{Control, NginxStep};
use crate::host::{self, sockets};
use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::{Duration, Instant};

/// The step's binary, checked again right before it runs (safety::exec): the journal
/// names a path, and what is there must still be under root's sole control.
fn binary(step: &NginxStep) -> Result<std::path::PathBuf> {
    crate::safety::exec::check(&step.binary)
        .map(|p| p.path)
        .map_err(|u| anyhow::anyhow!("nginx binary not run: {u}"))
}

/// `nginx -t` with the edited configuration.
pub fn test(step: &NginxStep) -> Result<()> {
    let mut args = with_conf(&step.args, &step.main.to_string_lossy());
    args.push("-t".into());
    let out = Command::new(binary(step)?)
        .args(&args)
        .output()
        .with_context(|| format!("running {} -t", step.binary.display()))?;
    if !out.status.success() {
        bail!(
            "nginx -t refused the edited configuration: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The master's arguments with `-c` pointing at `conf`.
fn with_conf(args: &[String], conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-c" {
            it.next();
            continue;
        }
        out.push(a.clone());
    }
    out.push("-c".into());
    out.push(conf.into());
    out
}

/// The running nginx master in this namespace, if any (one running as root: another
/// user's process is neither signalled nor waited for).
pub fn master() -> Option<u32> {
    let l = host::read_listeners().ok()?;
    host::nginx::discover::masters(&l).trusted.map(|p| p.pid)
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

fn signal(pid: u32, sig: i32) -> Result<()> {
    // SAFETY: kill has no memory preconditions.
    if unsafe { libc::kill(pid as i32, sig) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("signalling nginx pid {pid}"));
    }
    Ok(())
}

/// Runs argv as it is: never through a shell (a journal's words stay words).
fn run_argv(argv: &[String]) -> Result<()> {
    let shown = argv.join(" ");
    let (prog, args) = argv.split_first().context("an empty command")?;
    // Checked again now, and run by the path that was checked (links resolved): a link
    // swapped since the plan, or since the check, cannot lead to another program.
    let prog = if prog.contains('/') {
        crate::safety::exec::check(std::path::Path::new(prog))
            .map_err(|u| anyhow::anyhow!("`{shown}` was not run: {u}"))?
    } else {
        crate::safety::exec::in_path(prog).found.with_context(|| {
            format!("`{shown}` was not run: no `{prog}` in PATH that only root can change")
        })?
    };
    let out = Command::new(&prog.path)
        .args(args)
        .output()
        .with_context(|| format!("running `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Reloads or restarts nginx. `stopped` names the fault-injection boundary between a
/// restart's stop and start: `nginx-stopped` in the transaction's step, `undo:nginx-stopped`
/// when an undo restarts nginx again (a fault injected into the step must not also fail
/// the undo that repairs it).
pub fn control(step: &NginxStep, what: Control, stopped: &str) -> Result<()> {
    if let Some(argv) = &step.command {
        return run_argv(argv);
    }
    let verb = match what {
        Control::Reload => "reload",
        Control::Restart => "restart",
    };
    if let Some(unit) = &step.unit {
        return run_argv(&["systemctl".into(), verb.into(), unit.clone()]);
    }
    let running = master();
    match (what, running) {
        (Control::Reload, Some(pid)) => signal(pid, libc::SIGHUP),
        (Control::Reload, None) => {
            bail!("nginx is not running in this namespace: nothing to reload")
        }
        (Control::Restart, pid) => {
            if let Some(pid) = pid {
                stop(pid)?;
            }
            super::fault::boundary(stopped)?;
            start(step)
        }
    }
}

/// Graceful stop (QUIT), then TERM, then KILL, waiting for the master to go.
fn stop(pid: u32) -> Result<()> {
    for (sig, wait) in [(libc::SIGQUIT, 10), (libc::SIGTERM, 3), (libc::SIGKILL, 3)] {
        if !alive(pid) {
            return Ok(());
        }
        signal(pid, sig)?;
        let deadline = Instant::now() + Duration::from_secs(wait);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if alive(pid) {
        bail!("nginx master pid {pid} did not stop");
    }
    // Its workers hold the sockets a moment longer.
    let deadline = Instant::now() + Duration::from_secs(3);
    while master().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts nginx with the master's arguments (it daemonizes).
pub fn start(step: &NginxStep) -> Result<()> {
    let out = Command::new(binary(step)?)
        .args(&step.args)
        .output()
        .with_context(|| format!("starting {}", step.binary.display()))?;
    if !out.status.success() {
        bail!(
            "nginx did not start: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The live max backlogs by address (`127.0.0.1:80`, `unix:/x.sock`).
pub fn live_caps() -> Result<Vec<(String, u32)>> {
    let tcp = sockets::tcp_listeners().context("reading listeners through sock_diag")?;
    let unix = sockets::unix_listeners().context("reading unix listeners through sock_diag")?;
    Ok(tcp
        .iter()
        .map(|t| (t.local.to_string(), t.send_q))
        .chain(unix.iter().map(|u| (format!("unix:{}", u.path), u.send_q)))
        .collect())
}

/// Waits until every expected address listens with the expected max backlog (any, for
/// None), or says which does not.
pub fn expect(want: &[(String, Option<u32>)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = live_caps()?;
        let missing: Vec<String> = want
            .iter()
            .filter(|(addr, cap)| {
                let at: Vec<u32> = live
                    .iter()
                    .filter(|(a, _)| a == addr)
                    .map(|(_, c)| *c)
                    .collect();
                at.is_empty() || cap.is_some_and(|cap| at.iter().any(|c| *c != cap))
            })
            .map(|(addr, cap)| {
                let at: Vec<String> = live
                    .iter()
                    .filter(|(a, _)| a == addr)
                    .map(|(_, c)| c.to_string())
                    .collect();
                match cap {
                    _ if at.is_empty() => format!("{addr}: not listening"),
                    Some(cap) => format!("{addr}: max backlog {} (wanted {cap})", at.join("/")),
                    None => format!("{addr}: listening"),
                }
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the live listeners do not show the change: {}",
                missing.join("; ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the sockets of the step must show after `what`: every socket after a restart;
/// after a reload only those whose backlog number changed (the others keep their cap).
pub fn wanted(step: &NginxStep, what: Control) -> Vec<(String, Option<u32>)> {
    step.sockets
        .iter()
        .filter(|s| what == Control::Restart || s.relisten)
        .map(|s| (s.addr.clone(), Some(s.expected)))
        .collect()
}

/// What an undo must show: nginx listening again on every address it listened on
/// before; after a reload, with the old caps too (a restart makes fresh ones).
pub fn restored(step: &NginxStep, what: Control) -> Vec<(String, Option<u32>)> {
    step.listeners_before
        .iter()
        .map(|(a, c)| (a.clone(), (what == Control::Reload).then_some(*c)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn conf_is_replaced() {
        let args: Vec<String> = ["-p", "/srv", "-c", "/srv/old.conf", "-e", "stderr"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            super::with_conf(&args, "/r/new.conf"),
            ["-p", "/srv", "-e", "stderr", "-c", "/r/new.conf"]
        );
    }
}
