//! Text from files reaches the reader's terminal escaped: a sysctl.d file name, value and
//! comment, an nginx argument, a site profile's description and a path in an error, each
//! carrying `ESC ] 0 ; pwned BEL` (retitles the terminal) and `ESC [ 2 J` (clears it),
//! are shown as `\x1b...` in text, JUnit, the apply plan and main's error lines.

mod common;

use common::apply::apply_in;
use common::{run, Dirs, Netns};

const TITLE: &str = "\x1b]0;pwned\x07";
const CLEAR: &str = "\x1b[2J";

fn hostile_root() -> Dirs {
    let dirs = Dirs::new();
    dirs.write(
        &format!("etc/sysctl.d/60-{TITLE}x.conf"),
        &format!("# {TITLE} comment {CLEAR}\nnet.core.somaxconn = 12{CLEAR}\nnet.ipv4.tcp_syncookies = 0\n"),
    );
    dirs.write(
        "etc/nginx/nginx.conf",
        &format!("events {{}}\nhttp {{ server {{ listen 127.0.0.1:8080 backlog={CLEAR}; }} }}\n"),
    );
    dirs.write(
        "etc/tuneguard/profiles.d/site.yaml",
        "description: \"site \\e]0;pwned\\a \\e[2J\\x9b\"\nextends: [baseline]\n",
    );
    dirs
}

/// No raw ESC, BEL or C1 CSI byte anywhere, and the escaped form is there.
fn assert_clean(what: &str, out: &str) {
    for bad in ['\x1b', '\x07', '\u{9b}'] {
        assert!(!out.contains(bad), "{what} carries a raw {bad:?}:\n{out}");
    }
}

#[test]
fn file_text_is_escaped_in_text_junit_plans_and_errors() {
    let dirs = hostile_root();
    let root = dirs.root.path().to_str().unwrap();
    let audit = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--proc",
            "none",
            "--root",
            root,
            "--nginx-conf",
            "/etc/nginx/nginx.conf",
            "--profile",
            "site",
            "--color",
            "never",
            "--format",
            format,
        ];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        r.stdout
    };
    for (what, out) in [
        ("text", audit("text", &[])),
        ("text -v", audit("text", &["-v"])),
        ("junit", audit("junit", &[])),
    ] {
        assert_clean(what, &out);
        assert!(out.contains("60-\\x1b]0;pwned\\x07x.conf"), "{what}: {out}");
        if what != "junit" {
            // A passing finding's message is not in JUnit.
            assert!(out.contains("12\\x1b[2J"), "{what}: {out}");
        }
        assert!(out.contains("backlog=\\x1b[2J"), "{what}: {out}");
    }

    let r = run(&["profiles", "list", "--root", root]);
    assert_clean("profiles list", &r.stdout);
    assert!(
        r.stdout.contains("site \\x1b]0;pwned\\x07 \\x1b[2J\\u{9b}"),
        "{}",
        r.stdout
    );
    let r = run(&["profiles", "show", "site", "--root", root]);
    assert_clean("profiles show", &r.stdout);

    // main's error printer: a profile path that does not exist.
    let missing = format!("{root}/{TITLE}{CLEAR}.yaml");
    let r = run(&["profiles", "validate", &missing]);
    assert_eq!(r.code, 2);
    assert_clean("an error", &r.stderr);
    assert!(
        r.stderr.contains("\\x1b]0;pwned\\x07\\x1b[2J.yaml"),
        "{}",
        r.stderr
    );

    // The plan: the edited file's diff shows the comment; the row names the file.
    let ns = Netns::new();
    let r = apply_in(&ns, &dirs, &["--dry-run", "--profile", "site"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_clean("apply plan", &r.stdout);
    assert!(
        r.stdout.contains("# \\x1b]0;pwned\\x07 comment"),
        "{}",
        r.stdout
    );
}

#[test]
fn invalid_utf8_in_a_profile_is_named_at_its_first_bad_byte() {
    let dirs = Dirs::new();
    let bad: &[u8] = b"sysctl:\n  net.core.somaxconn: {min: 1}\n  # caf\xc3\xa9 \xff\xfe\n";
    let path = dirs.root.path().join("bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let p = path.to_str().unwrap();
    let want = format!("{p}:3:10: invalid UTF-8 (byte 0xff)");
    let r = run(&["profiles", "validate", p]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    let r = run(&["audit", "--proc", "none", "--no-nginx", "--profile", p]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    // A site profile, through the library.
    let site = dirs.root.path().join("etc/tuneguard/profiles.d/site.yaml");
    std::fs::create_dir_all(site.parent().unwrap()).unwrap();
    std::fs::write(&site, bad).unwrap();
    let root = dirs.root.path().to_str().unwrap();
    let r = run(&["profiles", "list", "--root", root]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(&format!("{}:3:10: invalid UTF-8", site.display())),
        "{}",
        r.stderr
    );
}

/// A profile whose file name carries the sequences is journaled under that name: the
/// apply's own lines and `history` show it escaped.
#[test]
fn apply_and_history_escape_what_the_journal_holds() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let prof = common::write_profile(
        dir.path(),
        &format!("p{TITLE}{CLEAR}"),
        "sysctl:\n  net.core.somaxconn: {equals: 5000}\n",
    );
    let s = state.to_str().unwrap();
    let r = run(&[
        "apply",
        "--netns",
        &ns.name,
        "--no-persist",
        "--no-nginx",
        "--yes",
        "--state-dir",
        s,
        "--profile",
        &prof,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("apply", &(r.stdout.clone() + &r.stderr));
    assert_eq!(ns.get("net.core.somaxconn"), "5000");
    let h = run(&["history", "--state-dir", s]);
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert_clean("history", &h.stdout);
    assert!(
        h.stdout.contains("p\\x1b]0;pwned\\x07\\x1b[2J"),
        "{}",
        h.stdout
    );
}

/// A refused command-line argument is quoted escaped too.
#[test]
fn command_line_errors_are_escaped() {
    let r = run(&["audit", "--only", &format!("x{TITLE}{CLEAR}")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_clean("the argument error", &r.stderr);
    assert!(r.stderr.contains("x\\x1b]0;pwned\\x07"), "{}", r.stderr);
}
