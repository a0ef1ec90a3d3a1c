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
