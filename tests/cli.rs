//! The command line as a tool: man pages and completions rendered from cli.rs and read
//! back by their real consumers (groff, bash, zsh, fish), "did you mean", help that
//! describes every flag, TERM=dumb, one line saying what needs root, and rollback and
//! recover that show, ask and name what they restore.

mod common;

use clap::CommandFactory;
use common::apply::Host;
use common::{bin, run, run_with, Dirs, Netns};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// Every visible command of the definition: (`tuneguard-profiles-show`, its long flags).
fn commands() -> Vec<(String, Vec<String>)> {
    let mut cmd = tuneguard::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    fn walk(c: &clap::Command, out: &mut Vec<(String, Vec<String>)>) {
        let flags = c
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        out.push((
            c.get_display_name().unwrap_or(c.get_name()).to_string(),
            flags,
        ));
        for s in c.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(s, out);
        }
    }
    walk(&cmd, &mut out);
    out
}

/// Runs `sh -c SCRIPT` and returns stdout, failing on a non-zero exit.
fn sh(program: &str, args: &[&str]) -> String {
    let o = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (scripts/test installs it): {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn man_pages_render_in_groff_and_name_every_command_and_flag() {
    let cmds = commands();
    let listed = run(&["generate", "man"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let names: Vec<&str> = listed.stdout.lines().collect();
    let want: Vec<&str> = cmds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want, "one page per command");
    assert!(want.contains(&"tuneguard-profiles-validate"), "{want:?}");
    let dir = tempfile::tempdir().unwrap();
    for (name, flags) in &cmds {
        let page = run(&["generate", "man", &format!("{name}.1")]);
        assert_eq!(page.code, 0, "{name}: {}", page.stderr);
        let file = dir.path().join(format!("{name}.1"));
        std::fs::write(&file, &page.stdout).unwrap();
        // groff with every warning on: a page it complains about is broken.
        let warned = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&file)
            .output()
            .expect("groff (groff-base)");
        assert!(
            warned.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&warned.stderr)
        );
        let text = sh(
            "groff",
            &["-man", "-Tascii", "-P-cbou", file.to_str().unwrap()],
        );
        assert!(text.contains(&format!("{name}(1)")), "{name}: {text}");
        for f in flags {
            assert!(text.contains(f.as_str()), "{name}.1 lacks {f}:\n{text}");
        }
        // The top page lists every subcommand.
        if name == "tuneguard" {
            for (sub, _) in cmds.iter().filter(|(n, _)| n.matches('-').count() == 1) {
                let word = sub.trim_start_matches("tuneguard-");
                assert!(text.contains(word), "tuneguard.1 lacks {word}");
            }
        }
    }
    let bad = run(&["generate", "man", "tuneguard-audt"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("did you mean `tuneguard-audit`?"),
        "{}",
        bad.stderr
    );
}

#[test]
fn completions_complete_every_command_and_flag_in_bash_zsh_and_fish() {
    let cmds = commands();
    let dir = tempfile::tempdir().unwrap();
    let script = |shell: &str, file: &str| {
        let r = run(&["generate", "completions", shell]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let p = dir.path().join(file);
        std::fs::write(&p, &r.stdout).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bash = script("bash", "tuneguard");
    let zsh = script("zsh", "_tuneguard");
    let fish = script("fish", "tuneguard.fish");
    sh("zsh", &["-n", &zsh]);
    let zsh_text = std::fs::read_to_string(&zsh).unwrap();
    for (name, flags) in &cmds {
        // The words typed so far: `tuneguard profiles show`.
        let words: Vec<&str> = std::iter::once("tuneguard")
            .chain(name.split('-').skip(1))
            .collect();
        let line = words.join(" ");
        // bash: what the completion function offers after `--`.
        let offered = sh(
            "bash",
            &[
                "-c",
                &format!(
                    "source {bash}; COMP_WORDS=({line} --); COMP_CWORD={}; _tuneguard tuneguard -- {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                    words.len(),
                    words.last().unwrap()
                ),
            ],
        );
        // fish: its own completer, asked as if the user pressed tab.
        let fished = sh(
            "fish",
            &["-c", &format!("source {fish}; complete -C '{line} --'")],
        );
        for f in flags {
            assert!(
                offered.lines().any(|l| l == f),
                "bash: `{line} --` does not offer {f}: {offered}"
            );
            assert!(
                fished.lines().any(|l| l.split('\t').next() == Some(f)),
                "fish: `{line} --` does not offer {f}: {fished}"
            );
            assert!(zsh_text.contains(f.as_str()), "zsh: no {f}");
        }
        // Subcommands are offered after their parent.
        if words.len() > 1 {
            let parent = &words[..words.len() - 1].join(" ");
            let sub = words.last().unwrap();
            let fished = sh(
                "fish",
                &["-c", &format!("source {fish}; complete -C '{parent} '")],
            );
            assert!(
                fished.lines().any(|l| l.split('\t').next() == Some(sub)),
                "fish: `{parent} ` does not offer {sub}: {fished}"
            );
        }
    }
}

#[test]
fn a_typo_gets_the_nearest_name() {
    let cases: [(&[&str], &str); 5] = [
        (&["audt"], "a similar subcommand exists: 'audit'"),
        (
            &["audit", "--formt", "json"],
            "a similar argument exists: '--format'",
        ),
        (
            &["audit", "--proc", "none", "--profile", "web-fronted"],
            "no profile named `web-fronted` and no such file; did you mean `web-frontend`?",
        ),
        (
            &["profiles", "show", "basline"],
            "no profile named `basline`; did you mean `baseline`?",
        ),
        (
            &["explain", "net.core.somaxcon"],
            "did you mean `net.core.somaxconn`?",
        ),
    ];
    for (args, want) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    // Nothing near: no guess.
    let r = run(&["explain", "kernel.zzzzzzzz"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("did you mean"), "{}", r.stderr);
}

/// A key a profile mistypes is still a valid profile (a key the catalog lacks is checked
/// as a plain value), but validate notes it with the nearest catalog key, and the
/// audit's finding that it does not exist names that key too; a real key outside the
/// catalog gets the note without a guess.
#[test]
fn a_mistyped_key_in_a_profile_gets_the_nearest_catalog_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typo.yaml");
    std::fs::write(
        &p,
        "name: typo\nextends: [baseline]\nsysctl:\n  net.core.somaxcon:\n    min: 1024\n  kernel.zzzzzzzz:\n    max: 10\n",
    )
    .unwrap();
    let p = p.to_str().unwrap();
    let v = run(&["profiles", "validate", p]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("note: net.core.somaxcon is not in tuneguard's catalog: checked as a plain value where the kernel has it; did you mean `net.core.somaxconn`?"),
        "{}",
        v.stdout
    );
    let far = v
        .stdout
        .lines()
        .find(|l| l.contains("kernel.zzzzzzzz"))
        .expect("a note for the key outside the catalog");
    assert!(!far.contains("did you mean"), "{far}");
    // Read from the live kernel (read only): offline, a missing key cannot be told.
    let a = run(&["audit", "--profile", p, "--no-nginx", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&a.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", a.stdout, a.stderr);
    });
    let said: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"] == "net.core.somaxcon")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        said.iter()
            .any(|m| m.contains("does not exist on this kernel")
                && m.ends_with("; did you mean `net.core.somaxconn`?")),
        "{said:?}"
    );
}

#[test]
fn help_describes_every_flag_and_every_format_and_quiet_only_where_it_counts() {
    for (name, _) in commands() {
        let words: Vec<&str> = name.split('-').skip(1).collect();
        let mut cmd = tuneguard::cli::Cli::command();
        cmd.build();
        let mut c = &cmd;
        for w in &words {
            c = c.find_subcommand(w).unwrap();
        }
        for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
            assert!(
                a.get_help().is_some(),
                "{name}: {} has no description",
                a.get_id()
            );
            for v in a.get_possible_values() {
                assert!(
                    v.get_help().is_some(),
                    "{name}: {} value {} has no description",
                    a.get_id(),
                    v.get_name()
                );
            }
        }
        // -q/-v exist where the text report reads them, nowhere else.
        let has_quiet = c.get_arguments().any(|a| a.get_long() == Some("quiet"));
        let talks = matches!(words.as_slice(), ["audit"] | ["observe"]);
        assert_eq!(has_quiet, talks, "{name}: --quiet");
    }
    let help = run(&["audit", "--help"]);
    for line in ["- text:", "- json:", "- junit:", "--quiet", "--verbose"] {
        assert!(help.stdout.contains(line), "{line}: {}", help.stdout);
    }
    let r = run(&["history", "-q"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unexpected argument '-q'"),
        "{}",
        r.stderr
    );
}

/// Runs tuneguard on a pseudo-terminal (util-linux script), so `--color auto` sees one.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let o = Command::new("script")
        .args(["-qec", &format!("{} {args}", bin()), "/dev/null"])
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn term_dumb_gets_no_color_as_no_color_does() {
    let colored = on_a_terminal("explain net.core.somaxconn", &[("TERM", "xterm")]);
    assert!(
        colored.contains("\x1b["),
        "no color on a terminal: {colored}"
    );
    for env in [[("TERM", "dumb")], [("NO_COLOR", "1")]] {
        let plain = on_a_terminal("explain net.core.somaxconn", &env);
        assert!(plain.contains("net.core.somaxconn"), "{plain}");
        assert!(!plain.contains('\x1b'), "{env:?}: {plain:?}");
    }
}

#[test]
fn without_root_each_command_says_in_one_line_what_needs_root() {
    common::require_root();
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(bin(), bin_dir.path().join("tuneguard")).unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ns = Netns::new();
    // Root's 0700 state directory, as apply leaves /var/lib/tuneguard.
    let dirs = Dirs::new();
    let state = dirs.state.path().to_str().unwrap();
    std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let cases: [(&[&str], &str); 10] = [
        (
            &["audit", "--pid", "1"],
            "--pid 1: only root may open /proc/1/ns/net",
        ),
        (
            &["observe", "--once", "--pid", "1"],
            "--pid 1: only root may open",
        ),
        (
            &["audit", "--netns", &ns.name, "--no-nginx"],
            "needs CAP_SYS_ADMIN",
        ),
        (
            &["apply", "--dry-run", "--no-nginx", "--state-dir", state],
            "is root's alone (mode 0700",
        ),
        (
            &["history", "--state-dir", state],
            "is root's alone (mode 0700",
        ),
        (
            &["apply", "--no-nginx", "--state-dir", state],
            "apply changes kernel settings",
        ),
        (
            &["rollback", "--last", "--state-dir", state],
            "rollback changes kernel settings",
        ),
        (
            &["recover", "--state-dir", state],
            "recover changes kernel settings",
        ),
        (
            &["rollback", "--dry-run", "--last", "--state-dir", state],
            "rollback --dry-run reads root's journals",
        ),
        (
            &["recover", "--dry-run", "--state-dir", state],
            "recover --dry-run reads root's journals",
        ),
    ];
    for (args, want) in cases {
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin_dir.path().join("tuneguard"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("setpriv (util-linux)");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, not: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            err.contains("as root (you are uid 65534)"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("os error"), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(state).unwrap().count(),
        0,
        "state dir touched"
    );
}

/// A journaled live change as the undo's plan shows it: the key, and `AFTER → BEFORE`.
fn row(c: &serde_json::Value) -> (&str, String) {
    (
        c["key"].as_str().unwrap(),
        format!(
            "{} → {}",
            c["after"].as_str().unwrap(),
            c["before"].as_str().unwrap()
        ),
    )
}

#[test]
fn rollback_shows_asks_and_names_every_value_and_file_it_restores() {
    let h = Host::new();
    let before = h.capture();
    let applied = h.apply(&["--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let after = h.capture();
    assert_ne!(after, before);
    let txn = &h.history()[0];

    // --dry-run: the table and the diffs, nothing changed, no journal.
    let dry = h.tool("rollback", &["--last", "--dry-run", "--color", "never"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let id = txn["id"].as_str().unwrap();
    assert!(
        dry.stdout
            .starts_with(&format!("tuneguard rollback --dry-run · transaction {id}")),
        "{}",
        dry.stdout
    );
    for c in txn["live"].as_array().unwrap() {
        let (key, row) = row(c);
        assert!(
            dry.stdout
                .lines()
                .any(|l| l.starts_with("  live ") && l.contains(key) && l.contains(&row)),
            "no row {key} {row}: {}",
            dry.stdout
        );
    }
    // A file the apply created is removed: its diff ends at /dev/null, as `diff -u`
    // and git show a deleted file.
    for f in txn["files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let created = !before.files.contains_key(f.trim_start_matches('/'));
        let header = if created {
            format!("--- {f}\n+++ /dev/null\n")
        } else {
            format!("--- {f}\n+++ {f}\n")
        };
        assert!(
            dry.stdout.contains(&header),
            "no `{header}`: {}",
            dry.stdout
        );
    }
    assert!(
        txn["files"].as_array().unwrap().iter().any(|f| !before
            .files
            .contains_key(f.as_str().unwrap().trim_start_matches('/'))),
        "the apply created no file: the removal's diff is not shown"
    );
    // The diff puts back the site file's old line.
    assert!(
        dry.stdout.contains("+net.core.somaxconn = 128"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.ends_with("dry run: nothing was changed\n"));
    assert_eq!(h.capture(), after, "a dry run changed the host");
    assert_eq!(h.history().len(), 1, "a dry run wrote a journal");

    // No terminal and no --yes: refused, as apply.
    let asked = run(&["rollback", "--last", "--state-dir", h.state()]);
    assert_eq!(asked.code, 2);
    assert!(
        asked
            .stderr
            .contains("stdin is not a terminal, so rollback cannot ask for confirmation"),
        "{}",
        asked.stderr
    );
    assert_eq!(h.capture(), after);

    // On a terminal, a "n" changes nothing.
    let no = Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf 'n\\n' | script -qec '{} rollback --last --state-dir {}' /dev/null",
                bin(),
                h.state()
            ),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&no.stdout);
    assert!(
        said.contains(&format!("Roll back transaction {id}? [y/N]")),
        "{said}"
    );
    assert!(
        said.contains("not confirmed: nothing was changed"),
        "{said}"
    );
    assert_eq!(h.capture(), after);

    let rb = h.tool("rollback", &["--yes", "--last"]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(h.capture(), before);
    // Every value and file by name, not counts.
    for c in txn["live"].as_array().unwrap() {
        let line = format!(
            "  {} {} → {}",
            c["key"].as_str().unwrap(),
            c["after"].as_str().unwrap(),
            c["before"].as_str().unwrap()
        );
        assert!(
            rb.stdout.lines().any(|l| l == line),
            "no `{line}`: {}",
            rb.stdout
        );
    }
    for f in txn["files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let created = !before.files.contains_key(f.trim_start_matches('/'));
        let line = format!("  {f} {}", if created { "removed" } else { "restored" });
        assert!(
            rb.stdout.lines().any(|l| l == line),
            "no `{line}`: {}",
            rb.stdout
        );
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn recover_shows_asks_and_names_what_it_restores() {
    use std::time::{Duration, Instant};
    let h = Host::new();
    let before = h.capture();
    // An apply killed after every write, before its verify: an interrupted journal.
    let marker = h.dirs.state.path().join("paused");
    let mut child = Command::new(bin())
        .args(h.apply_args())
        .arg("--yes")
        .env("TUNEGUARD_PAUSE", "verify")
        .env("TUNEGUARD_PAUSE_FILE", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "apply never paused");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&marker).unwrap();
    let during = h.capture();
    assert_ne!(during, before);
    let txn = &h.history()[0];
    assert_eq!(txn["state"], "interrupted");

    let dry = h.tool("recover", &["--dry-run", "--color", "never"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    for c in txn["live"].as_array().unwrap() {
        let (key, row) = row(c);
        assert!(
            dry.stdout
                .lines()
                .any(|l| l.starts_with("  live ") && l.contains(key) && l.contains(&row)),
            "no row {key} {row}: {}",
            dry.stdout
        );
    }
    assert!(dry.stdout.contains("+++ "), "no diff: {}", dry.stdout);
    assert!(dry.stdout.ends_with("dry run: nothing was changed\n"));
    assert_eq!(h.capture(), during);
    assert_eq!(h.history()[0]["state"], "interrupted");

    let asked = run(&["recover", "--state-dir", h.state()]);
    assert_eq!(asked.code, 2);
    assert!(
        asked.stderr.contains("so recover cannot ask"),
        "{}",
        asked.stderr
    );
    assert_eq!(h.capture(), during);

    let rec = run_with(&["recover", "--yes", "--state-dir", h.state()], &[]);
    assert_eq!(rec.code, 0, "{}", rec.stderr);
    assert_eq!(h.capture(), before);
    for c in txn["live"].as_array().unwrap() {
        let key = c["key"].as_str().unwrap();
        assert!(
            rec.stdout
                .lines()
                .any(|l| l.starts_with(&format!("  {key} "))),
            "recover does not name {key}: {}",
            rec.stdout
        );
    }
    // No terminal: no status line on stderr.
    assert!(rec.stderr.is_empty(), "{}", rec.stderr);
}
