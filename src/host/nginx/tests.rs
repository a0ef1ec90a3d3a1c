use super::*;
use std::fs;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let path = dir.path().join(p.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn names(conf: &Config) -> Vec<String> {
    fn go(dirs: &[&Directive], out: &mut Vec<String>) {
        for d in dirs {
            out.push(d.name.to_string());
            go(&d.children(), out);
        }
    }
    let mut out = Vec::new();
    go(&conf.top(), &mut out);
    out
}

#[test]
fn nested_relative_includes_resolve_against_the_main_directory() {
    let root = tree(&[
        (
            "/etc/nginx/nginx.conf",
            "events {}\nhttp { include conf.d/*.conf; }\n",
        ),
        (
            "/etc/nginx/conf.d/b.conf",
            "server { include snippets/x.conf; }\n",
        ),
        ("/etc/nginx/conf.d/a.conf", "a_first on;\n"),
        ("/etc/nginx/conf.d/.hidden.conf", "hidden on;\n"),
        ("/etc/nginx/snippets/x.conf", "listen 81;\n"),
        // The including file's own directory is not where nginx looks.
        ("/etc/nginx/conf.d/snippets/x.conf", "wrong on;\n"),
    ]);
    let conf = load(root.path(), Path::new("/etc/nginx/nginx.conf")).unwrap();
    assert_eq!(
        names(&conf),
        ["events", "http", "a_first", "server", "listen"]
    );
    let paths: Vec<_> = conf
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/nginx/nginx.conf",
            "/etc/nginx/conf.d/a.conf",
            "/etc/nginx/conf.d/b.conf",
            "/etc/nginx/snippets/x.conf"
        ]
    );
}

#[test]
fn empty_glob_is_fine_missing_file_is_not() {
    let root = tree(&[(
        "/n/nginx.conf",
        "include none/*.conf;\ninclude missing.conf;\n",
    )]);
    let err = load(root.path(), Path::new("/n/nginx.conf")).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(
        err.message.starts_with("open() \"/n/missing.conf\" failed"),
        "{err}"
    );
}

#[test]
fn cycles_are_named_and_twice_included_files_parse_twice() {
    let root = tree(&[
        ("/n/nginx.conf", "include a.conf;\n"),
        ("/n/a.conf", "x;\ninclude b.conf;\n"),
        ("/n/b.conf", "include a.conf;\n"),
    ]);
    let err = load(root.path(), Path::new("/n/nginx.conf")).unwrap_err();
    assert!(
        err.message
            .contains("include cycle: /n/nginx.conf -> /n/a.conf -> /n/b.conf -> /n/a.conf"),
        "{err}"
    );
    assert_eq!(
        (err.file.display().to_string(), err.line),
        ("/n/b.conf".into(), 1)
    );

    let root = tree(&[
        ("/n/nginx.conf", "include a.conf;\ninclude a.conf;\n"),
        ("/n/a.conf", "x;\n"),
    ]);
    let conf = load(root.path(), Path::new("/n/nginx.conf")).unwrap();
    assert_eq!(names(&conf), ["x", "x"]);
    assert_eq!(conf.files.len(), 2);
}

#[test]
fn included_files_must_balance_their_braces() {
    let root = tree(&[
        ("/n/nginx.conf", "http {\ninclude a.conf;\n}\n"),
        ("/n/a.conf", "server {\n"),
    ]);
    let err = load(root.path(), Path::new("/n/nginx.conf")).unwrap_err();
    assert_eq!(err.message, "unexpected end of file, expecting \"}\"");
    assert_eq!(err.file, Path::new("/n/a.conf"));
}

#[test]
fn handler_blocks_take_any_name_but_no_block() {
    let root = tree(&[
        (
            "/n/nginx.conf",
            "http { types { text/html html; include m.types; } }\n",
        ),
        ("/n/m.types", "image/png png;\n"),
    ]);
    let conf = load(root.path(), Path::new("/n/nginx.conf")).unwrap();
    assert_eq!(names(&conf), ["http", "types", "text/html", "image/png"]);
    let root = tree(&[("/n/nginx.conf", "http { types { a { } } }\n")]);
    assert_eq!(
        load(root.path(), Path::new("/n/nginx.conf"))
            .unwrap_err()
            .message,
        "unexpected \"{\""
    );
}

#[test]
fn a_dump_reads_like_the_files() {
    let root = tree(&[
        (
            "/n/nginx.conf",
            "http {\n  include s/*.conf;\n  include s/a.conf;\n}\n",
        ),
        ("/n/s/a.conf", "server { listen 8080 backlog=4; }\n"),
        (
            "/n/s/b.conf",
            "# configuration file looks:\nserver { listen 8081; }",
        ),
    ]);
    let from_files = load(root.path(), Path::new("/n/nginx.conf")).unwrap();
    let mut dump = b"nginx: the configuration file /n/nginx.conf syntax is ok\n".to_vec();
    for f in &from_files.files {
        dump.extend(format!("# configuration file {}:\n", f.path.display()).bytes());
        dump.extend(&f.bytes);
        dump.push(b'\n');
    }
    let from_dump = load_dump(&dump).unwrap();
    assert_eq!(names(&from_dump), names(&from_files));
    for (a, b) in from_files.files.iter().zip(&from_dump.files) {
        assert_eq!((&a.path, &a.bytes), (&b.path, &b.bytes));
    }
    assert!(load_dump(b"hello\n").is_err());
}

#[test]
fn spans_point_at_the_bytes() {
    let root = tree(&[(
        "/n/nginx.conf",
        "http { server {\n  listen  \"127.0.0.1:80\"   backlog=1024 ;\n} }\n",
    )]);
    let conf = load(root.path(), Path::new("/n/nginx.conf")).unwrap();
    let text = std::str::from_utf8(&conf.files[0].bytes).unwrap();
    let listen = conf.top()[0].children()[0].children()[0];
    assert_eq!(listen.line, 2);
    assert_eq!(
        &text[listen.span.clone()],
        "listen  \"127.0.0.1:80\"   backlog=1024 ;"
    );
    let args = conf.args(listen);
    assert_eq!(&text[args[0].raw.clone()], "\"127.0.0.1:80\"");
    assert_eq!(conf.value(&args[0]), "127.0.0.1:80");
    assert_eq!(&text[args[1].raw.clone()], "backlog=1024");
}
