//! The directive tree, as `ngx_conf_parse` walks it: blocks, the bodies of handler blocks
//! (`types`, `map`, ...) that take any name, and `include` in every context with nginx's
//! path rule. Files come from a [`Files`] source: the disk under `--root`, or the files
//! of an `nginx -T` dump.

use super::glob;
use super::lexer::{End, Lexer, Token};
use super::{Arg, Body, ConfError, Config, Directive, FileId, Included, SourceFile};
use crate::safety::tree::{Cap, ReadError, Tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the files nginx would open come from. Paths are as nginx sees them on the host.
pub enum Files {
    /// The disk, with host paths read inside this tree (the root, held open).
    Root(Tree),
    /// The files an `nginx -T` dump printed, by path.
    Dump(BTreeMap<PathBuf, Vec<u8>>),
}

impl Files {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ReadError> {
        match self {
            Files::Root(tree) => tree.read(path, Cap::Config),
            Files::Dump(files) => files.get(path).cloned().ok_or_else(|| {
                ReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not in the nginx -T dump",
                ))
            }),
        }
    }

    /// The paths a glob pattern matches, sorted as glob(3) sorts them.
    /// Unreadable directories match nothing, as glob(3) without GLOB_ERR.
    /// None when some component matches more than MAX_GLOB_PATHS paths (a tree of
    /// directory links can make `*/*/*/...` match without end).
    fn glob(&self, pattern: &Path) -> Option<Vec<PathBuf>> {
        use std::os::unix::ffi::OsStrExt;
        let parts: Vec<&[u8]> = pattern.iter().skip(1).map(|c| c.as_bytes()).collect();
        let mut found = match self {
            Files::Root(tree) => {
                let mut paths = vec![PathBuf::from("/")];
                for (i, part) in parts.iter().enumerate() {
                    let last = i + 1 == parts.len();
                    let pattern = glob::Pattern::new(part);
                    let mut next = Vec::new();
                    for dir in &paths {
                        if !glob::is_pattern(part) {
                            let p = dir.join(std::ffi::OsStr::from_bytes(part));
                            if (last || tree.is_dir(&p)) && tree.exists_nofollow(&p) {
                                next.push(p);
                            }
                            continue;
                        }
                        let Ok(entries) = tree.read_dir(dir) else {
                            continue;
                        };
                        for e in entries {
                            let name = e.name;
                            if pattern.matches(name.as_bytes()) {
                                let p = dir.join(&name);
                                if last || tree.is_dir(&p) {
                                    next.push(p);
                                    if next.len() > MAX_GLOB_PATHS {
                                        return None;
                                    }
                                }
                            }
                        }
                    }
                    paths = next;
                }
                paths
            }
            Files::Dump(files) => files
                .keys()
                .filter(|p| {
                    let names: Vec<&[u8]> = p.iter().skip(1).map(|c| c.as_bytes()).collect();
                    names.len() == parts.len()
                        && parts.iter().zip(&names).all(|(pat, name)| {
                            if glob::is_pattern(pat) {
                                glob::matches(pat, name)
                            } else {
                                pat == name
                            }
                        })
                })
                .cloned()
                .collect(),
        };
        found.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
        Some(found)
    }
}

/// How deeply blocks may nest, counted across included files. nginx has no limit of its
/// own: 1.22 parses 5,000 nested `location` blocks and dies of a stack overflow
/// (SIGSEGV) at 20,000; real configurations stay under ten.
pub const MAX_BLOCK_DEPTH: usize = 100;
/// How deeply includes may nest (a file including a file ...). nginx keeps each
/// including file open, so its only limit is the descriptor limit.
pub const MAX_INCLUDE_DEPTH: usize = 100;
/// Directives parsed in all, a file included twice counted twice: a file including the
/// next one twice, twenty deep, is a million parses. nginx would parse them all.
pub const MAX_DIRECTIVES: usize = 1_000_000;
/// Paths one component of an include pattern may match (glob(3) follows directory
/// links, so a link loop makes `*/*/*/...` grow without end).
pub const MAX_GLOB_PATHS: usize = 10_000;
/// Bytes tokenized in all, likewise counted per inclusion.
pub const MAX_PARSED_BYTES: usize = 256 << 20;

/// Blocks whose bodies are read by a handler of their own: any word may start an entry,
/// nested blocks are refused, and `include` still works.
const HANDLER_BLOCKS: &[&str] = &["types", "map", "geo", "split_clients", "charset_map"];

pub struct Parser<'f> {
    files: &'f Files,
    /// The directory of the main config file: nginx's conf prefix, against which every
    /// relative include resolves, however deeply nested.
    prefix: PathBuf,
    sources: Vec<SourceFile>,
    by_path: BTreeMap<PathBuf, FileId>,
    /// The include chain being parsed, to name a cycle instead of recursing forever
    /// (nginx itself runs out of file descriptors).
    stack: Vec<FileId>,
    names: std::collections::HashMap<Box<[u8]>, Arc<str>>,
    args: Vec<Arg>,
    text: String,
    /// Blocks open, across files.
    depth: usize,
    /// Directives and bytes parsed so far, against MAX_DIRECTIVES and MAX_PARSED_BYTES.
    directives: usize,
    parsed_bytes: usize,
}

#[derive(Clone, Copy)]
struct Context {
    in_block: bool,
    handler: bool,
}

impl<'f> Parser<'f> {
    pub fn parse(files: &'f Files, main: &Path) -> Result<Config, ConfError> {
        let prefix = main.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut p = Parser {
            files,
            prefix,
            sources: Vec::new(),
            by_path: BTreeMap::new(),
            stack: Vec::new(),
            names: std::collections::HashMap::new(),
            args: Vec::new(),
            text: String::new(),
            depth: 0,
            directives: 0,
            parsed_bytes: 0,
        };
        let bytes = files.read(main).map_err(|e| ConfError {
            file: main.to_path_buf(),
            line: 0,
            message: format!("open() \"{}\" failed ({})", main.display(), errno(&e)),
            over_limit: false,
            refused: e.is_refusal(),
        })?;
        let id = p.add_source(main, bytes);
        let directives = p.parse_file(
            id,
            Context {
                in_block: false,
                handler: false,
            },
        )?;
        Ok(Config {
            main: id,
            files: p.sources,
            directives: directives.into_boxed_slice(),
            args: p.args,
            text: p.text,
        })
    }

    fn arg(&mut self, t: Token) -> Arg {
        let start = self.text.len() as u32;
        match std::str::from_utf8(&t.value) {
            Ok(s) => self.text.push_str(s),
            Err(_) => self.text.push_str(&String::from_utf8_lossy(&t.value)),
        }
        Arg {
            value: start..self.text.len() as u32,
            raw: t.raw,
            line: t.line,
        }
    }

    fn intern(&mut self, word: &[u8]) -> Arc<str> {
        if let Some(n) = self.names.get(word) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(text(std::borrow::Cow::Borrowed(word)));
        self.names.insert(word.into(), n.clone());
        n
    }

    fn add_source(&mut self, path: &Path, bytes: Vec<u8>) -> FileId {
        if let Some(&id) = self.by_path.get(path) {
            return id;
        }
        let id = FileId(self.sources.len());
        let real = match self.files {
            Files::Root(tree) => crate::host::sysctl_d::resolve_in_root(tree.top(), path),
            Files::Dump(_) => path.to_path_buf(),
        };
        self.sources.push(SourceFile {
            path: path.to_path_buf(),
            real,
            bytes,
        });
        self.by_path.insert(path.to_path_buf(), id);
        id
    }

    fn parse_file(&mut self, id: FileId, ctx: Context) -> Result<Vec<Directive>, ConfError> {
        self.stack.push(id);
        // The bytes are shared by every directive of the file; clone the handle once.
        let bytes = std::mem::take(&mut self.sources[id.0].bytes);
        let mut lexer = Lexer::new(&bytes);
        let result = self.parse_block(
            id,
            &mut lexer,
            Context {
                in_block: false,
                ..ctx
            },
        );
        self.sources[id.0].bytes = bytes;
        self.stack.pop();
        result
    }

    fn error(&self, file: FileId, line: u32, message: String) -> ConfError {
        ConfError {
            file: self.sources[file.0].path.clone(),
            line,
            message,
            over_limit: false,
            refused: false,
        }
    }

    /// One of tuneguard's own limits, where nginx might read on.
    fn limit(&self, file: FileId, line: u32, message: String) -> ConfError {
        ConfError {
            over_limit: true,
            ..self.error(file, line, message)
        }
    }

    fn parse_block(
        &mut self,
        file: FileId,
        lexer: &mut Lexer,
        ctx: Context,
    ) -> Result<Vec<Directive>, ConfError> {
        let mut out = Vec::new();
        loop {
            let st = lexer
                .next_statement()
                .map_err(|e| self.error(file, e.line, e.message))?;
            match st.end {
                End::BlockDone(_) if !ctx.in_block => {
                    return Err(self.error(file, lexer.line(), "unexpected \"}\"".into()))
                }
                End::BlockDone(_) => return Ok(out),
                End::FileDone if ctx.in_block => {
                    return Err(self.error(
                        file,
                        lexer.line(),
                        "unexpected end of file, expecting \"}\"".into(),
                    ))
                }
                End::FileDone => return Ok(out),
                _ => {}
            }
            let mut words = st.words.into_iter();
            let name_tok = words
                .next()
                .expect("the lexer never ends a statement without words");
            let name = self.intern(&name_tok.value);
            let first = self.args.len() as u32;
            for w in words {
                let a = self.arg(w);
                self.args.push(a);
            }
            let args = first..self.args.len() as u32;
            let (opens, end_at) = match st.end {
                End::BlockStart(at) => (true, at),
                End::Semicolon(at) => (false, at),
                _ => unreachable!("block and file ends returned above"),
            };
            let line = name_tok.line;
            if opens && ctx.handler {
                return Err(self.error(file, lexer.line(), "unexpected \"{\"".into()));
            }
            self.directives += 1;
            if self.directives > MAX_DIRECTIVES {
                return Err(self.limit(
                    file,
                    line,
                    format!(
                        "more than {MAX_DIRECTIVES} directives, counting a file each time it is included"
                    ),
                ));
            }
            let mut d = Directive {
                name,
                args,
                file,
                line,
                span: name_tok.raw.start..end_at + 1,
                body: Body::None,
            };
            if &*d.name == "include" {
                if opens {
                    return Err(self.error(
                        file,
                        line,
                        "directive \"include\" is not terminated by \";\"".into(),
                    ));
                }
                d.body = Body::Include(self.include(&d, ctx)?);
            } else if opens {
                if self.depth >= MAX_BLOCK_DEPTH {
                    return Err(self.limit(
                        file,
                        line,
                        format!("blocks nested more than {MAX_BLOCK_DEPTH} deep"),
                    ));
                }
                let handler = HANDLER_BLOCKS.contains(&&*d.name);
                self.depth += 1;
                let children = self.parse_block(
                    file,
                    lexer,
                    Context {
                        in_block: true,
                        handler,
                    },
                );
                self.depth -= 1;
                d.body = Body::Block(children?.into_boxed_slice());
            }
            out.push(d);
        }
    }

    fn include(&mut self, d: &Directive, ctx: Context) -> Result<Vec<Included>, ConfError> {
        if d.args.len() != 1 {
            return Err(self.error(
                d.file,
                d.line,
                "invalid number of arguments in \"include\" directive".into(),
            ));
        }
        let a = &self.args[d.args.start as usize];
        let value =
            Path::new(&self.text[a.value.start as usize..a.value.end as usize]).to_path_buf();
        let value = value.as_path();
        let path = if value.is_absolute() {
            value.to_path_buf()
        } else {
            self.prefix.join(value)
        };
        use std::os::unix::ffi::OsStrExt;
        let targets = if glob::is_pattern(path.as_os_str().as_bytes()) {
            self.files.glob(&path).ok_or_else(|| {
                self.limit(
                    d.file,
                    d.line,
                    format!(
                        "include pattern \"{}\" matches more than {MAX_GLOB_PATHS} paths",
                        path.display()
                    ),
                )
            })?
        } else {
            vec![path]
        };
        let mut out = Vec::new();
        for target in targets {
            if let Some(&id) = self.by_path.get(&target) {
                if self.stack.contains(&id) {
                    let chain: Vec<String> = self
                        .stack
                        .iter()
                        .map(|f| self.sources[f.0].path.display().to_string())
                        .chain([target.display().to_string()])
                        .collect();
                    return Err(self.error(
                        d.file,
                        d.line,
                        format!("include cycle: {}", chain.join(" -> ")),
                    ));
                }
            }
            let id = match self.by_path.get(&target) {
                Some(&id) => id,
                None => {
                    let bytes = self.files.read(&target).map_err(|e| ConfError {
                        refused: e.is_refusal(),
                        ..self.error(
                            d.file,
                            d.line,
                            format!("open() \"{}\" failed ({})", target.display(), errno(&e)),
                        )
                    })?;
                    self.add_source(&target, bytes)
                }
            };
            if self.stack.len() >= MAX_INCLUDE_DEPTH {
                return Err(self.limit(
                    d.file,
                    d.line,
                    format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
                ));
            }
            self.parsed_bytes += self.sources[id.0].bytes.len();
            if self.parsed_bytes > MAX_PARSED_BYTES {
                return Err(self.limit(
                    d.file,
                    d.line,
                    format!(
                        "more than {} MiB to parse, counting a file each time it is included",
                        MAX_PARSED_BYTES >> 20
                    ),
                ));
            }
            // A file included twice is parsed twice, as nginx does.
            let directives = self.parse_file(id, ctx)?;
            out.push(Included {
                file: id,
                directives: directives.into_boxed_slice(),
            });
        }
        Ok(out)
    }
}

fn text(value: std::borrow::Cow<'_, [u8]>) -> String {
    match String::from_utf8(value.into_owned()) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// An I/O error as nginx prints it: "2: No such file or directory".
/// nginx's own words for a failed open (`2: No such file or directory`), or ours for a
/// file tuneguard refuses to read (a FIFO, a device, too large, outside the root).
fn errno(e: &ReadError) -> String {
    match e {
        ReadError::NotFound => "2: No such file or directory".into(),
        ReadError::Io(e) => os_errno(e),
        other => other.to_string(),
    }
}

fn os_errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            format!("{n}: {text}")
        }
        None => e.to_string(),
    }
}
