//! Every shell block of README.md and docs/ runs, so none of them drifts from the tool.
//!
//! A block fenced ```` ```sh ```` is a list of commands. Each runs, in order, in one bash
//! session inside a throwaway network namespace, from a scratch directory that links to
//! the repository's files (so `profiles/web-frontend.yaml` and `tests/fixtures/...` are
//! there, and whatever a block writes lands in scratch). `tuneguard` is the binary under
//! test, behind a wrapper that gives apply, rollback, recover and history a temp
//! `--state-dir`, and apply a temp `--root`, when the block names none: nothing of the
//! host is written. The namespace the docs call `blue` is a fresh one the test made.
//!
//! A command fails the test when it exits non-zero; `tuneguard audit` and `observe` may
//! exit 1, which is them reporting findings (the documented exit code), and a command
//! whose comment says `(exit N)` must exit exactly N. A ```` ```text ````
//! block right after a shell block is what its last command prints: each shown line must
//! appear in that output, in order, with runs of spaces alike and `...` standing for text
//! that changes from host to host (ids, names, counts of a live system).
//!
//! A block that cannot run here (it installs, runs the whole suite, needs a fleet or a
//! running nginx, or changes the host) says so on the line before its fence, visibly in
//! the markdown source: `<!-- not-run: REASON -->`. The test counts and lists them.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Block {
    /// file:line of the fence.
    at: String,
    commands: Vec<String>,
    /// The reason, for a block marked `<!-- not-run: REASON -->`.
    not_run: Option<String>,
    /// The ```text block that follows, if any.
    shown: Option<Vec<String>>,
}

/// The shell blocks of one markdown file.
fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // The ```text block starting at `j` (skipping blank lines), if any.
    let text_block = |mut j: usize| -> Option<Vec<String>> {
        while j < lines.len() && lines[j].trim().is_empty() {
            j += 1;
        }
        if lines.get(j)?.trim() != "```text" {
            return None;
        }
        let end = (j + 1..lines.len()).find(|&k| lines[k].trim() == "```")?;
        Some(lines[j + 1..end].iter().map(|l| l.to_string()).collect())
    };
    while i < lines.len() {
        let fence = lines[i].trim();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let end = (i + 1..lines.len())
            .find(|&k| lines[k].trim() == "```")
            .unwrap_or_else(|| panic!("{}:{}: a fence never closed", path.display(), i + 1));
        if matches!(fence, "```sh" | "```bash" | "```shell" | "```console") {
            let not_run = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!-- not-run:"))
                .map(|r| r.trim_end_matches("-->").trim().to_string());
            // Lines ending in `\` go on.
            let mut commands: Vec<String> = Vec::new();
            let mut carry = String::new();
            for l in &lines[i + 1..end] {
                match l.strip_suffix('\\') {
                    Some(head) => carry.push_str(head),
                    None => {
                        carry.push_str(l);
                        let c = std::mem::take(&mut carry);
                        if !c.trim().is_empty() && !c.trim_start().starts_with('#') {
                            commands.push(c);
                        }
                    }
                }
            }
            out.push(Block {
                at: format!("{}:{}", path.display(), i + 1),
                commands,
                not_run,
                shown: text_block(end + 1),
            });
        }
        i = end + 1;
    }
    out
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut files = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut files);
    files.sort();
    files
}

/// `shown` (each line with `...` for what varies) appears in `actual`, in order.
fn shows(shown: &[String], actual: &str) -> Result<(), String> {
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let matches = |pattern: &str, line: &str| {
        let parts: Vec<&str> = pattern.split("...").collect();
        let mut rest = line;
        for (k, part) in parts.iter().enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match rest.find(part) {
                Some(at) if k > 0 || at == 0 => rest = &rest[at + part.len()..],
                _ => return false,
            }
        }
        parts.last().is_some_and(|p| p.trim().is_empty()) || rest.is_empty()
    };
    let actual: Vec<String> = actual.lines().map(squeeze).collect();
    let mut from = 0;
    for want in shown.iter().map(|l| squeeze(l)) {
        if want == "..." {
            continue;
        }
        match (from..actual.len()).find(|&k| matches(&want, &actual[k])) {
            Some(k) => from = k + 1,
            None => return Err(format!("`{want}` is not in the output (in order)")),
        }
    }
    Ok(())
}

#[test]
fn shows_matches_lines_in_order_with_wildcards() {
    let out = "a  1 x\nb 2 y\nsummary: 3 ok\n";
    assert!(shows(
        &["a 1 ...".into(), "...".into(), "summary: ... ok".into()],
        out
    )
    .is_ok());
    assert!(shows(&["summary: 3 ok".into(), "a 1 x".into()], out).is_err());
    assert!(
        shows(&["b 2".into()], out).is_err(),
        "a shown line is whole"
    );
    assert!(shows(&["... 2 y".into()], out).is_ok());
}

/// ansible-playbook and its Python: scripts/test sets TUNEGUARD_TEST_ANSIBLE to its venv's bin.
fn ansible() -> PathBuf {
    std::env::var_os("TUNEGUARD_TEST_ANSIBLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("TUNEGUARD_TEST_ANSIBLE is unset: point it at the bin/ of a venv with ansible-core (scripts/test sets it to target/ansible-venv/bin)"))
}

/// The wrapper standing for `tuneguard` in the blocks.
const WRAPPER: &str = r#"#!/bin/bash
args=("$@")
has() { for a in "${args[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }
case "$1" in
  apply|rollback|recover|history) has --state-dir || args+=(--state-dir "$TG_DOC_STATE") ;;
esac
if [ "$1" = apply ] && ! has --root; then args+=(--root "$TG_DOC_ROOT"); fi
exec "$TG_DOC_BIN" "${args[@]}"
"#;

/// Runs one block; Err says which command failed and what it printed.
fn run_block(block: &Block, repo: &Path, ns: &Netns) -> Result<(), String> {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let work = dir.join("work");
    let (root, state, bin, logs) = (
        dir.join("root"),
        dir.join("state"),
        dir.join("bin"),
        dir.join("logs"),
    );
    for d in [&work, &root, &bin, &logs] {
        std::fs::create_dir_all(d).unwrap();
    }
    for e in std::fs::read_dir(repo).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name != "target" && !name.to_string_lossy().starts_with('.') {
            std::os::unix::fs::symlink(e.path(), work.join(&name)).unwrap();
        }
    }
    // `target/release/tuneguard`, as the docs build it, is the binary under test.
    std::fs::create_dir_all(work.join("target/release")).unwrap();
    std::os::unix::fs::symlink(common::bin(), work.join("target/release/tuneguard")).unwrap();
    // So is the portable binary `scripts/release` leaves in `target/dist`.
    std::fs::create_dir_all(work.join("target/dist")).unwrap();
    let portable = format!(
        "target/dist/tuneguard-{}-x86_64-linux-gnu",
        env!("CARGO_PKG_VERSION")
    );
    std::os::unix::fs::symlink(common::bin(), work.join(portable)).unwrap();
    let wrapper = bin.join("tuneguard");
    std::fs::write(&wrapper, WRAPPER).unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    // `blue` is the test's namespace; `tg-try`, which a block makes itself, gets a name
    // of the test's too, deleted after the block whatever happened.
    let try_ns = format!("{}-try", ns.name);
    let named = |s: &str| s.replace("blue", &ns.name).replace("tg-try", &try_ns);
    let mut script = String::from("cd \"$TG_DOC_WORK\"\n");
    for (k, c) in block.commands.iter().enumerate() {
        let c = named(c);
        // A command the docs say fails carries "(exit N)" in its comment.
        let expected = c
            .split_once("(exit ")
            .and_then(|(_, rest)| rest.split(')').next()?.parse::<u8>().ok());
        let ok = match expected {
            Some(n) => format!("[ $rc -eq {n} ]"),
            None if ["tuneguard audit", "tuneguard observe"]
                .iter()
                .any(|p| c.trim_start().starts_with(p)) =>
            {
                "[ $rc -le 1 ]".to_string()
            }
            None => "[ $rc -eq 0 ]".to_string(),
        };
        script.push_str(&format!(
            "{{ {c}\n}} >\"$TG_DOC_LOGS/{k}.out\" 2>\"$TG_DOC_LOGS/{k}.err\"\n\
             rc=$?; if ! {ok}; then echo TG_DOC_FAILED {k} $rc; exit 0; fi\n"
        ));
    }
    let out = Command::new("ip")
        // A hang fails the block instead of the suite.
        .args([
            "netns", "exec", &ns.name, "timeout", "-k", "5", "600", "bash", "-c",
        ])
        .arg(&script)
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                bin.display(),
                ansible().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("PAGER", "cat")
        .env("TG_DOC_BIN", common::bin())
        .env("TG_DOC_ROOT", &root)
        .env("TG_DOC_STATE", &state)
        .env("TG_DOC_WORK", &work)
        .env("TG_DOC_LOGS", &logs)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = Command::new("ip").args(["netns", "del", &try_ns]).output();
    // The end of what a command printed (where its error is).
    let log = |k: usize, ext: &str| {
        let s = std::fs::read_to_string(logs.join(format!("{k}.{ext}"))).unwrap_or_default();
        let cut = s.len().saturating_sub(3000);
        let cut = (cut..=s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s[cut..].to_string()
    };
    let said = String::from_utf8_lossy(&out.stdout);
    if let Some((k, rc)) = said
        .lines()
        .find_map(|l| l.strip_prefix("TG_DOC_FAILED "))
        .and_then(|l| l.split_once(' '))
    {
        let k: usize = k.parse().unwrap();
        return Err(format!(
            "`{}` exited {rc}\nstdout: {}\nstderr: {}",
            named(&block.commands[k]),
            log(k, "out"),
            log(k, "err")
        ));
    }
    if !out.status.success() {
        return Err(format!(
            "bash failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let (Some(shown), Some(last)) = (&block.shown, block.commands.len().checked_sub(1)) {
        let shown: Vec<String> = shown.iter().map(|l| named(l)).collect();
        shows(&shown, &log(last, "out")).map_err(|e| {
            format!(
                "`{}`: {e}\noutput:\n{}",
                named(&block.commands[last]),
                log(last, "out")
            )
        })?;
    }
    Ok(())
}

#[test]
fn every_shell_block_in_the_docs_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    let mut not_run = Vec::new();
    let mut failed = Vec::new();
    for file in markdown_files(repo) {
        for block in blocks(&file) {
            let at = block.at.replacen(&format!("{}/", repo.display()), "", 1);
            match &block.not_run {
                Some(reason) => {
                    assert!(!reason.is_empty(), "{at}: not-run without a reason");
                    not_run.push(format!("{at}: {reason}"));
                }
                None => {
                    let ns = Netns::new();
                    ran += 1;
                    if let Err(e) = run_block(&block, repo, &ns) {
                        failed.push(format!("{at}: {e}"));
                    }
                }
            }
        }
    }
    println!("{ran} shell blocks run; {} not run:", not_run.len());
    for n in &not_run {
        println!("  {n}");
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(ran >= 6, "only {ran} blocks ran");
}
