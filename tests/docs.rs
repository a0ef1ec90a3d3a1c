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

/// What users get (the README, docs/, the built-in profiles and every key's explanation)
/// cites only files in the repository: the team's notes are not shipped.
#[test]
fn shipped_text_cites_no_team_notes() {
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
    let mut texts: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                std::fs::read_to_string(f).unwrap_or_default(),
            )
        })
        .collect();
    for k in CATALOG.iter() {
        texts.push((format!("explain {}", k.name), explain::markdown(k)));
    }
    for (what, text) in texts {
        for note in [
            "FACTS.md",
            "INCIDENTS.md",
            "SPEC.md",
            "STYLE.md",
            "../shared",
        ] {
            assert!(!text.contains(note), "{what} cites {note}");
        }
    }
}
