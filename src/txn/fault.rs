//! Test-only hooks at every step boundary of a transaction, compiled in only with the
//! `fault-injection` feature (scripts/test builds with it; release builds have none of
//! this). Environment, read at each boundary:
//! - `TUNEGUARD_FAULT_TRACE=FILE`: append the boundary's name to FILE (how a test learns
//!   every boundary there is; an undo passes none of the step's boundaries, only its
//!   own `undo:` ones, so a fault at a step fails that step and not its repair);
//! - `TUNEGUARD_FAULT=NAME`: fail at that boundary, as a failed step would;
//! - `TUNEGUARD_PAUSE=NAME` with `TUNEGUARD_PAUSE_FILE=FILE`: create FILE at that boundary
//!   and wait until it is removed (at most 60 s), so a test can `kill -9` the process there
//!   or hold the lock while another apply starts.

#[cfg(feature = "fault-injection")]
static UNDOING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From here on the process is undoing: the hooks stay silent, so an injected fault
/// breaks the transaction once and never its undo (the same step names recur there).
pub fn undoing() {
    #[cfg(feature = "fault-injection")]
    UNDOING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Called after each step; an error makes the transaction undo what it did.
#[cfg(feature = "fault-injection")]
pub fn boundary(name: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if UNDOING.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    if let Some(trace) = std::env::var_os("TUNEGUARD_FAULT_TRACE") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)?;
        writeln!(f, "{name}")?;
    }
    if std::env::var("TUNEGUARD_PAUSE").as_deref() == Ok(name) {
        if let Some(file) = std::env::var_os("TUNEGUARD_PAUSE_FILE") {
            std::fs::write(&file, std::process::id().to_string())?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::path::Path::new(&file).exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    if std::env::var("TUNEGUARD_FAULT").as_deref() == Ok(name) {
        anyhow::bail!("injected fault at {name} (TUNEGUARD_FAULT)");
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn boundary(_name: &str) -> anyhow::Result<()> {
    Ok(())
}
