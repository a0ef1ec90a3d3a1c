//! Reading nginx's configuration as nginx reads it: the tokenizer, the directive tree with
//! includes, `nginx -T` dumps, and the listening sockets the configuration asks for.
//! Nothing here knows about profiles.

pub mod binary;
pub mod directives;
pub mod discover;
mod glob;
mod lexer;
pub mod listen;
mod parse;
mod tls;
pub mod users;
pub mod variables;
pub mod versions;

pub use parse::Files;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub usize);

/// One file nginx reads, once, however often it is included.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as nginx names it on the host (not under `--root`).
    pub path: PathBuf,
    /// Where its bytes are on disk: under the root, links inside the tree resolved
    /// (Debian's sites-enabled/default is sites-available/default), so that an edit
    /// writes the file itself, never through a link (txn::fsio). For a dump, the path.
    pub real: PathBuf,
    pub bytes: Vec<u8>,
}

/// One argument: its value as nginx stores it, and the bytes it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The value's place in [`Config::text`] (read it with [`Config::value`]): one arena
    /// for every word, since a large configuration has hundreds of thousands of them.
    pub value: Range<u32>,
    /// Byte range in the file, quotes included: an edit replaces exactly this.
    pub raw: Range<usize>,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Block(Box<[Directive]>),
    /// The files an `include` pulled in, in the order nginx parses them.
    Include(Vec<Included>),
}

#[derive(Debug, Clone)]
pub struct Included {
    pub file: FileId,
    pub directives: Box<[Directive]>,
}

#[derive(Debug, Clone)]
pub struct Directive {
    /// Interned: the same few dozen names repeat across a configuration.
    pub name: std::sync::Arc<str>,
    /// The directive's arguments' place in [`Config::args`] (read them with
    /// [`Config::args`]).
    pub args: Range<u32>,
    pub file: FileId,
    /// The line of the directive's name.
    pub line: u32,
    /// From the first byte of the name to the `;` or `{` that ends it, inclusive.
    pub span: Range<usize>,
    pub body: Body,
}

impl Directive {
    /// The directives of a block, with includes expanded in place.
    pub fn children(&self) -> Vec<&Directive> {
        match &self.body {
            Body::Block(b) => flatten(b),
            _ => Vec::new(),
        }
    }
}

/// Directives with `include` replaced by what it included, recursively; blocks are kept
/// as they are (their children are flattened when asked for).
pub fn flatten(dirs: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::with_capacity(dirs.len());
    fn go<'a>(dirs: &'a [Directive], out: &mut Vec<&'a Directive>) {
        for d in dirs {
            match &d.body {
                Body::Include(files) => files.iter().for_each(|f| go(&f.directives, out)),
                _ => out.push(d),
            }
        }
    }
    go(dirs, &mut out);
    out
}

/// A parsed configuration: the main file first, then every included file in the order
/// nginx first opened it (the order `nginx -T` prints them).
#[derive(Debug, Clone)]
pub struct Config {
    pub main: FileId,
    pub files: Vec<SourceFile>,
    pub directives: Box<[Directive]>,
    /// Every argument of every directive, in file order.
    pub args: Vec<Arg>,
    /// Every argument's value, as nginx stores it, back to back.
    pub text: String,
}

impl Config {
    pub fn path(&self, id: FileId) -> &Path {
        &self.files[id.0].path
    }

    pub fn args(&self, d: &Directive) -> &[Arg] {
        &self.args[d.args.start as usize..d.args.end as usize]
    }

    pub fn value(&self, a: &Arg) -> &str {
        &self.text[a.value.start as usize..a.value.end as usize]
    }

    /// The values of a directive's arguments.
    pub fn values(&self, d: &Directive) -> Vec<&str> {
        self.args(d).iter().map(|a| self.value(a)).collect()
    }

    /// The top-level directives, includes expanded.
    pub fn top(&self) -> Vec<&Directive> {
        flatten(&self.directives)
    }
}

/// What nginx would say when it refuses the configuration, with where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfError {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
    /// A limit of tuneguard's own (nesting, size: parse.rs), not a refusal of nginx's.
    pub over_limit: bool,
    /// A file tuneguard refuses to read (safety::tree: not a regular file, too large, a
    /// link out of the root): the audit cannot be trusted, exit 2.
    pub refused: bool,
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(
                f,
                "{} in {}:{}",
                self.message,
                self.file.display(),
                self.line
            )
        }
    }
}

impl std::error::Error for ConfError {}

/// Reads the configuration whose main file is `main` (a host path), with every file
/// read under `root`.
pub fn load(root: &Path, main: &Path) -> Result<Config, ConfError> {
    use crate::safety::tree::{Confine, Tree};
    let tree = Tree::open(root, Confine::InRoot).map_err(|e| ConfError {
        file: main.to_path_buf(),
        line: 0,
        message: format!("the root {} cannot be opened: {e}", root.display()),
        over_limit: false,
        refused: false,
    })?;
    parse::Parser::parse(&Files::Root(tree), main)
}

/// Parses files given by path (an edited configuration, before it is written).
pub fn load_files(files: BTreeMap<PathBuf, Vec<u8>>, main: &Path) -> Result<Config, ConfError> {
    parse::Parser::parse(&Files::Dump(files), main)
}

/// Reads an `nginx -T` dump: per file, `# configuration file PATH:`, its bytes, and a
/// newline nginx adds. Text before the first header (the "syntax is ok" lines when
/// stderr was captured too) is not configuration.
pub fn load_dump(text: &[u8]) -> Result<Config, ConfError> {
    let files = split_dump(text);
    let Some(main) = files.first().map(|(p, _)| p.clone()) else {
        return Err(ConfError {
            file: PathBuf::new(),
            line: 0,
            message: "not an nginx -T dump: no \"# configuration file PATH:\" line".into(),
            over_limit: false,
            refused: false,
        });
    };
    let map: BTreeMap<PathBuf, Vec<u8>> = files.into_iter().collect();
    parse::Parser::parse(&Files::Dump(map), &main)
}

const DUMP_HEADER: &[u8] = b"# configuration file ";

fn split_dump(text: &[u8]) -> Vec<(PathBuf, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    // (path, start of content, start of header line)
    let mut heads: Vec<(PathBuf, usize, usize)> = Vec::new();
    let mut line_start = 0;
    while line_start < text.len() {
        let end = text[line_start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..end];
        if let Some(rest) = line.strip_prefix(DUMP_HEADER) {
            if let Some(path) = rest.strip_suffix(b":") {
                if path.first() == Some(&b'/') {
                    heads.push((
                        PathBuf::from(std::ffi::OsStr::from_bytes(path)),
                        (end + 1).min(text.len()),
                        line_start,
                    ));
                }
            }
        }
        line_start = end + 1;
    }
    let mut out = Vec::with_capacity(heads.len());
    for (i, (path, start, _)) in heads.iter().enumerate() {
        let stop = heads.get(i + 1).map_or(text.len(), |h| h.2);
        let mut body = &text[*start..stop.max(*start)];
        // nginx writes a newline after each file's bytes.
        if let Some(b) = body.strip_suffix(b"\n") {
            body = b;
        }
        out.push((path.clone(), body.to_vec()));
    }
    out
}

#[cfg(test)]
mod tests;
