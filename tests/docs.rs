//! docs/keys/ is generated from the catalog, never written twice: this test fails when a
//! page differs from what the catalog says. `scripts/gen-docs` rewrites them.

use std::path::Path;
use tuneguard::catalog::CATALOG;
use tuneguard::report::explain;

#[test]
fn key_pages_match_the_catalog() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys");
    let bless = std::env::var_os("TUNEGUARD_BLESS").is_some();
    let mut expected: Vec<(String, String)> = CATALOG
        .iter()
        .map(|k| (format!("{}.md", k.name), explain::markdown(k)))
        .collect();
    expected.push(("README.md".into(), explain::markdown_index()));
    if bless {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &expected {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let on_disk = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty(),
        "docs/keys is stale for {stale:?}: run scripts/gen-docs"
    );
    assert_eq!(
        on_disk,
        expected.len(),
        "docs/keys holds pages for keys no longer in the catalog: run scripts/gen-docs"
    );
}

/// docs/ansible/library/tuneguard.yml (what `ansible-doc tuneguard` shows) documents
/// exactly the arguments the module accepts: the module names them when it rejects an
/// unknown one.
#[test]
fn ansible_doc_options_are_the_module_arguments() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/ansible/library/tuneguard.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut documented: Vec<String> = doc["DOCUMENTATION"]["options"]
        .as_mapping()
        .expect("DOCUMENTATION.options is a mapping")
        .keys()
        .map(|k| k.as_str().expect("option names are strings").to_string())
        .collect();
    documented.sort();

    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args.json");
    std::fs::write(
        &args,
        r#"{"no_such_argument": 1, "_ansible_check_mode": true}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tuneguard"))
        .arg(&args)
        .output()
        .unwrap();
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = result["msg"].as_str().expect("a failed result has a msg");
    let list = msg
        .split("Supported parameters include: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of supported parameters in {msg:?}"));
    let mut supported: Vec<String> = list
        .trim_end_matches('.')
        .split(", ")
        .map(str::to_string)
        .collect();
    supported.sort();
    assert_eq!(
        documented, supported,
        "docs/ansible/library/tuneguard.yml's options differ from the module's arguments (src/ansible.rs)"
    );
}

/// What users get (the README, docs/, the built-in profiles, every key's explanation and
/// the strings the program prints) names only files that are in the repository: every
/// path under one of the repository's top directories, every `NAME.md` and every relative
/// markdown link must exist, and nothing points outside (`../`). The team's notes
/// (FACTS.md, SPEC.md, ...) are not shipped, so citing them fails here. Kernel and nginx
/// sources (`net/ipv4/tcp_input.c`, nginx's `src/core/ngx_connection.c`) end in .c or .h,
/// which no file of this repository does, and are not checked.
#[test]
fn shipped_text_names_only_files_in_the_repository() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut files);
    walk(&root.join("profiles"), &mut files);
    let mut sources = Vec::new();
    walk(&root.join("src"), &mut sources);
    let mut repo_names = std::collections::BTreeSet::new();
    for dir in ["docs", "src", "tests", "profiles", "scripts", "examples"] {
        let mut all = Vec::new();
        walk(&root.join(dir), &mut all);
        repo_names.extend(all.iter().map(|p| p.file_name().unwrap().to_owned()));
    }
    repo_names.insert("README.md".into());
    // (where, text, the directory relative links resolve against)
    let mut texts: Vec<(String, String, std::path::PathBuf)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            (f.display().to_string(), text, f.parent().unwrap().into())
        })
        .collect();
    for f in &sources {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        // The program's strings, not its comments (those are for the team) nor its unit
        // tests' inputs.
        let all = std::fs::read_to_string(f).unwrap();
        let program = all.split("#[cfg(test)]").next().unwrap_or("");
        let text: String = program
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        texts.push((f.display().to_string(), text, f.parent().unwrap().into()));
    }
    for k in CATALOG.iter() {
        texts.push((
            format!("explain {}", k.name),
            explain::markdown(k),
            root.join("docs/keys"),
        ));
    }
    let mut dead = Vec::new();
    for (what, text, base) in &texts {
        for r in file_references(text) {
            let ok = match &r {
                Ref::Repo(p) => exists(&root.join(p)),
                Ref::Name(n) => repo_names.contains(std::ffi::OsStr::new(n)),
                Ref::Relative(l) => {
                    let p = base.join(l);
                    exists(&p) && p.canonicalize().is_ok_and(|p| p.starts_with(root))
                }
            };
            if !ok {
                dead.push(format!("{what}: {r:?}"));
            }
        }
    }
    assert!(
        dead.is_empty(),
        "shipped text names files the repository does not have:\n{}",
        dead.join("\n")
    );
}

/// The team's notes (FACTS.md, SPEC.md, INCIDENTS.md, STYLE.md) are not in the
/// repository: no file of it, comments and tests included, cites them, so that the next
/// reader of a comment can follow it (docs/kernel.md, docs/incidents.md, the README and
/// docs/apply.md say the same things in the project's own words).
#[test]
fn nothing_cites_the_team_notes() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // Third-party corpora are kept byte for byte.
                if !p.ends_with("tests/corpus") {
                    walk(&p, out);
                }
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("Cargo.toml")];
    for dir in [
        "src", "tests", "docs", "profiles", "scripts", "examples", "contrib", ".ci",
    ] {
        walk(&root.join(dir), &mut files);
    }
    // Spelled in pieces, so that this file does not cite them itself.
    let notes: Vec<String> = ["FACTS", "SPEC", "INCIDENTS", "STYLE"]
        .iter()
        .map(|n| format!("{n}.md"))
        .collect();
    let mut cited = Vec::new();
    for f in &files {
        if f.ends_with("tests/docs.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if notes.iter().any(|note| line.contains(note.as_str())) {
                cited.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(
        cited.is_empty(),
        "cites the team's notes:\n{}",
        cited.join("\n")
    );
}

/// Whether a referenced path exists: `examples/impostor` is built from impostor.rs, and a
/// placeholder (`tests/fuzz/TARGET/crash-NAME`) or a glob (`tests/apply*.rs`) stands for
/// files in a directory that must exist.
fn exists(p: &Path) -> bool {
    let placeholder = |c: &str| c.contains('*') || c.contains("NAME") || c.contains("TARGET");
    let mut real = std::path::PathBuf::new();
    for c in p.components() {
        if placeholder(&c.as_os_str().to_string_lossy()) {
            return real.is_dir();
        }
        real.push(c);
    }
    real.exists() || real.with_extension("rs").exists()
}

#[derive(Debug)]
enum Ref {
    /// `docs/kernel.md`, `tests/observe.rs`: a path from the repository's root.
    Repo(String),
    /// `FACTS.md`: a markdown file named without its directory.
    Name(String),
    /// `[text](kernel.md#anchor)`, `../schema/x.json`: relative to the page (or to the
    /// source file), and inside the repository.
    Relative(String),
}

/// The file references of a text, by the shapes above.
fn file_references(text: &str) -> Vec<Ref> {
    const TOP: [&str; 6] = [
        "docs/",
        "src/",
        "tests/",
        "profiles/",
        "scripts/",
        "examples/",
    ];
    let mut refs = Vec::new();
    for link in text.split("](").skip(1) {
        let target = link.split(')').next().unwrap_or("");
        let target = target.split('#').next().unwrap_or("");
        if !target.is_empty() && !target.contains("://") && !target.contains('{') {
            refs.push(Ref::Relative(target.to_string()));
        }
    }
    // What a file of the repository may end with; `../sysctl.conf` (a link's target in
    // an example) is not one.
    const EXT: [&str; 7] = [".md", ".rs", ".json", ".yaml", ".yml", ".xsd", ".toml"];
    let word = |c: char| c.is_ascii_alphanumeric() || "_.-/*".contains(c);
    for token in text.split(|c: char| !word(c)) {
        let token = token.trim_end_matches(['.', '/', '-']);
        if token.ends_with(".c") || token.ends_with(".h") || token.contains("://") {
            continue;
        }
        if token.starts_with("../") {
            if EXT.iter().any(|e| token.ends_with(e)) {
                refs.push(Ref::Relative(token.to_string()));
            }
        } else if TOP.iter().any(|t| token.starts_with(t)) {
            refs.push(Ref::Repo(token.to_string()));
        } else if !token.contains('/') && token.ends_with(".md") && token.len() > 3 {
            refs.push(Ref::Name(token.to_string()));
        }
    }
    refs
}

#[test]
fn file_references_finds_each_shape() {
    let refs = file_references(
        "see docs/kernel.md §1, FACTS.md, [x](keys/a.md#b), ../shared/SPEC.md, \
         net/ipv4/tcp_input.c and nginx src/core/ngx_cycle.c; https://example.com/docs/x",
    );
    let shown: Vec<String> = refs.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(
        shown,
        [
            r#"Relative("keys/a.md")"#,
            r#"Repo("docs/kernel.md")"#,
            r#"Name("FACTS.md")"#,
            r#"Relative("../shared/SPEC.md")"#,
        ]
    );
}
