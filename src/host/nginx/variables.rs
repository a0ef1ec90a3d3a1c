//! What nginx checks once it has read an http{} or stream{} block
//! (`ngx_http_variables_init_vars`, `ngx_stream_variables_init_vars`): every variable a
//! directive of the block compiled must be one a module or the configuration defines, or
//! start with a prefix a module defines (`$http_`, `$arg_`, `$cookie_`, ...). Else
//! nginx stops with `unknown "NAME" variable`, naming no file or line.
//!
//! A wrong refusal is far worse than a missed one, so a variable counts as used only
//! where nginx surely compiles it (USES), anything a configuration could define it by
//! counts as a definition, and whatever tuneguard cannot read (a third-party module, a
//! block it does not know, a value nginx would refuse for its own reasons) stops the
//! judgement.

use super::binary::Program;
use super::{Body, Config, Directive};
use std::collections::{BTreeSet, HashMap};

/// Where a directive compiles variables into its handler's code, as nginx 1.22's
/// handlers do. A `$` anywhere else (a regex of `location ~`, `server_name ~`, rewrite's
/// pattern, a map's keys; code for perl or njs; any directive not listed) is not judged.
#[derive(Clone, Copy)]
enum Use {
    /// The argument at this position (ngx_http_compile_complex_value or
    /// ngx_http_script_compile as the directive is read).
    At(usize),
    /// Every argument (try_files, index).
    All,
    /// The last argument (error_page's URI).
    Last,
    /// The argument at this position, compiled when the location is merged
    /// (proxy_set_header, fastcgi_param, ...): an http-level one is compiled only when
    /// some server inherits it.
    Merged(usize),
    /// `return CODE TEXT` and `return URL`.
    Return,
    /// access_log: the path and `if=`.
    Log,
    /// log_format: every argument after the name and `escape=`, read by its own reader
    /// (ngx_http_log_compile_format), where `$1` is a variable, not a capture.
    Format,
    /// if's condition (ngx_http_rewrite_if_condition): the `$name` operand (the whole
    /// rest of the word is the name), and the value after `=`, `!=` or a file test.
    If,
}

/// The directives of http{} and stream{} (and the stream module's twins of the same
/// names) judged, with where they compile variables.
const USES: &[(&str, Use)] = &[
    ("set", Use::At(1)),
    ("return", Use::Return),
    ("rewrite", Use::At(1)),
    ("add_header", Use::At(1)),
    ("add_trailer", Use::At(1)),
    ("proxy_set_header", Use::Merged(1)),
    ("grpc_set_header", Use::Merged(1)),
    ("fastcgi_param", Use::Merged(1)),
    ("uwsgi_param", Use::Merged(1)),
    ("scgi_param", Use::Merged(1)),
    ("proxy_pass", Use::At(0)),
    ("fastcgi_pass", Use::At(0)),
    ("uwsgi_pass", Use::At(0)),
    ("scgi_pass", Use::At(0)),
    ("grpc_pass", Use::At(0)),
    ("root", Use::At(0)),
    ("alias", Use::At(0)),
    ("try_files", Use::All),
    ("index", Use::All),
    ("error_page", Use::Last),
    ("limit_req_zone", Use::At(0)),
    ("limit_conn_zone", Use::At(0)),
    ("access_log", Use::Log),
    ("log_format", Use::Format),
    ("if", Use::If),
    // The source; its body's values are read with the block.
    ("map", Use::At(0)),
];

/// Blocks whose bodies tuneguard reads here, besides nginx's own directive blocks
/// (directives::CHECKED_BLOCKS): the handler blocks whose entries it knows. Any other
/// block (a third-party module's, Lua or njs code) may define variables in ways not read
/// here: nothing is judged.
const HANDLER_BLOCKS: &[&str] = &["map", "geo", "split_clients", "types", "charset_map"];

fn read_block(name: &str) -> bool {
    super::directives::CHECKED_BLOCKS.contains(&name) || HANDLER_BLOCKS.contains(&name)
}

/// nginx's own modules that a build may make dynamic: their directives are the ones
/// this file knows. Another `load_module` (njs, Lua, geoip2, ...) brings directives
/// that may define or compile variables in ways not read here.
const OWN_MODULES: &[&str] = &[
    "ngx_stream_module.so",
    "ngx_mail_module.so",
    "ngx_http_geoip_module.so",
    "ngx_stream_geoip_module.so",
    "ngx_http_image_filter_module.so",
    "ngx_http_xslt_filter_module.so",
    "ngx_http_perl_module.so",
];

/// nginx's refusal of the first block it would refuse for a variable: the block, and
/// its message. None when none is certain.
pub fn first_unknown<'c>(conf: &'c Config, modules: &[Program]) -> Option<(&'c Directive, String)> {
    let top = conf.top();
    for d in &top {
        if &*d.name == "load_module" {
            let [arg] = conf.args(d) else { return None };
            let file = conf.value(arg).rsplit('/').next().unwrap_or("");
            if !OWN_MODULES.contains(&file) {
                return None;
            }
        }
    }
    let blocks: Vec<&Directive> = top
        .into_iter()
        .filter(|d| matches!(&*d.name, "http" | "stream") && matches!(d.body, Body::Block(_)))
        .collect();
    // A second http{} or stream{} is refused as a duplicate, which is not judged here.
    for name in ["http", "stream"] {
        if blocks.iter().filter(|d| &*d.name == name).count() > 1 {
            return None;
        }
    }
    let mut scans = Vec::new();
    let mut defined = BTreeSet::new();
    for &b in &blocks {
        let mut s = Scan::default();
        s.block(conf, b, true)?;
        defined.extend(std::mem::take(&mut s.defined));
        scans.push((b, s.used));
    }
    captures(conf, &mut defined);
    let mut known = Known {
        strings: modules.iter().map(loaded).collect(),
        seen: HashMap::new(),
    };
    for (b, used) in scans {
        let unknown: BTreeSet<&String> = used
            .iter()
            .filter(|n| !defined.contains(*n) && !known.defined(n))
            .collect();
        // nginx names the first unknown in the order the variables were compiled, which
        // merging reorders: a block with two unknown names is not judged, nor any after.
        match unknown.len() {
            0 => continue,
            1 => {
                let name = unknown.into_iter().next()?;
                return Some((b, format!("unknown \"{name}\" variable")));
            }
            _ => return None,
        }
    }
    None
}

/// Why nginx refuses an unknown variable, and what to do.
pub fn explain(message: &str) -> Option<(&'static str, &'static str)> {
    const WHY: &str = "once nginx has read the http{} (or stream{}) block, it checks every \
variable a directive of the block uses (ngx_http_variables_init_vars): each must be one a module \
of this nginx defines, one whose prefix a module defines ($http_*, $arg_*, $cookie_*, \
$sent_http_*, $upstream_http_*, ...), or one the configuration defines (set, map, geo, \
split_clients, a named capture of a regex, perl_set, js_set, auth_request_set, ...). It names no \
file or line.";
    const FIX: &str = "correct the variable's name, or define it (set, map); a `$` meant \
literally can come from a variable: `geo $dollar { default \"$\"; }`";
    (message.starts_with("unknown \"") && message.ends_with("\" variable")).then_some((WHY, FIX))
}

/// Variables used and defined in one block.
#[derive(Default)]
struct Scan {
    used: Vec<String>,
    defined: BTreeSet<String>,
}

impl Scan {
    /// Reads the body of `b`; None when something in it is not read here.
    fn block(&mut self, conf: &Config, b: &Directive, top: bool) -> Option<()> {
        let children = b.children();
        let servers: Vec<&Directive> = children
            .iter()
            .copied()
            .filter(|d| top && &*d.name == "server")
            .collect();
        for &d in &children {
            let name = &*d.name;
            // A merge-time directive of the block itself is compiled only when a server
            // inherits it: one without a directive of that name of its own.
            let inherited = !top
                || servers
                    .iter()
                    .any(|s| !s.children().iter().any(|c| c.name == d.name));
            self.directive(conf, d, !inherited)?;
            if let Body::Block(_) = d.body {
                if !read_block(name) {
                    return None;
                }
                match name {
                    "map" => self.map_body(conf, d)?,
                    "geo" | "split_clients" | "types" | "charset_map" => {}
                    _ => self.block(conf, d, false)?,
                }
            }
        }
        Some(())
    }

    /// One directive: what it defines and what it compiles. `unmerged`: an http-level
    /// directive no server inherits, whose merge-time compiling never runs.
    fn directive(&mut self, conf: &Config, d: &Directive, unmerged: bool) -> Option<()> {
        let name = &*d.name;
        let args = conf.values(d);
        match name {
            "set" => self.define(args.first()),
            "map" | "split_clients" => self.define(args.get(1)),
            "geo" => self.define(args.last()),
            _ => {}
        }
        let Some(&(_, how)) = USES.iter().find(|(n, _)| *n == name) else {
            // Whatever `$name` a directive not listed holds may be a definition
            // (auth_request_set, perl_set, js_set, a module's block entries).
            for w in std::iter::once(name).chain(args.iter().copied()) {
                self.defined.extend(lenient(w));
            }
            return Some(());
        };
        let mut values: Vec<&str> = Vec::new();
        match how {
            Use::At(i) => values.extend(args.get(i)),
            Use::All => values.extend(&args),
            Use::Last => values.extend(args.last()),
            Use::Merged(i) if !unmerged => values.extend(args.get(i)),
            Use::Merged(_) => {}
            Use::Return => match args[..] {
                [url] => values.push(url),
                [code, text] if code.bytes().all(|c| c.is_ascii_digit()) => values.push(text),
                _ => return None,
            },
            Use::Log => {
                values.extend(args.first());
                values.extend(args.iter().skip(1).filter_map(|a| a.strip_prefix("if=")));
            }
            Use::Format => {
                let skip = if args.get(1).is_some_and(|a| a.starts_with("escape=")) {
                    2
                } else {
                    1
                };
                for a in args.iter().skip(skip) {
                    self.used.extend(references(a, false)?);
                }
            }
            Use::If => return self.condition(&args),
        }
        if matches!(name, "root" | "alias")
            && args.iter().any(|a| {
                let a = a.to_ascii_lowercase();
                a.contains("$document_root") || a.contains("$realpath_root")
            })
        {
            // nginx refuses these in root and alias for a reason of their own.
            return None;
        }
        for v in values {
            self.used.extend(references(v, true)?);
        }
        Some(())
    }

    /// ngx_http_rewrite_if_condition: `($name)`, `($name = VALUE)`, `($name ~ REGEX)`,
    /// `(-f VALUE)`; a condition nginx refuses is not judged.
    fn condition(&mut self, args: &[&str]) -> Option<()> {
        let mut words: Vec<&str> = args.to_vec();
        let first = words.first_mut()?.strip_prefix('(')?;
        if first.is_empty() {
            words.remove(0);
        } else {
            words[0] = first;
        }
        let last = words.last_mut()?.strip_suffix(')')?;
        if last.is_empty() {
            words.pop();
        } else {
            *words.last_mut()? = last;
        }
        match words[..] {
            [var, ref rest @ ..] if var.len() > 1 && var.starts_with('$') => {
                let name = &var[1..];
                // The whole rest of the word is the name: only a plain one is judged.
                if !plain(name) {
                    return None;
                }
                self.used.push(name.to_ascii_lowercase());
                match rest {
                    [] => {}
                    ["=" | "!=", value] => self.used.extend(references(value, true)?),
                    ["~" | "~*" | "!~" | "!~*", _] => {}
                    _ => return None,
                }
            }
            [op, value] if FILE_TESTS.contains(&op.strip_prefix('!').unwrap_or(op)) => {
                self.used.extend(references(value, true)?);
            }
            _ => return None,
        }
        Some(())
    }

    /// A map body: each entry's value is compiled (ngx_http_map).
    fn map_body(&mut self, conf: &Config, map: &Directive) -> Option<()> {
        for e in map.children() {
            match conf.values(e)[..] {
                [] if matches!(&*e.name, "hostnames" | "volatile") => {}
                [value] => self.used.extend(references(value, true)?),
                _ => return None,
            }
        }
        Some(())
    }

    fn define(&mut self, arg: Option<&&str>) {
        if let Some(name) = arg.and_then(|a| a.strip_prefix('$')) {
            self.defined.insert(name.to_ascii_lowercase());
        }
    }
}

/// if's file tests, each also with `!` before it.
const FILE_TESTS: &[&str] = &["-f", "-d", "-e", "-x"];

/// Whether a name is only letters, digits and `_`, not starting with a digit.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The variables a value compiles, as ngx_http_script_compile reads `$`: `$1`..`$9` are
/// captures (when `captures`), `$name` and `${name}` variables (letters, digits, `_`),
/// lowercased as nginx keeps them. None when nginx would refuse the value itself (a `$`
/// without a name, an unclosed brace) or the name starts with a digit.
fn references(value: &str, captures: bool) -> Option<Vec<String>> {
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        let next = *b.get(i)?;
        if captures && (b'1'..=b'9').contains(&next) {
            i += 1;
            continue;
        }
        let brace = next == b'{';
        if brace {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &value[start..i];
        if brace {
            if b.get(i) != Some(&b'}') {
                return None;
            }
            i += 1;
        }
        if !plain(name) {
            return None;
        }
        out.push(name.to_ascii_lowercase());
    }
    Some(out)
}

/// Every name after a `$` in a word, however it is written: what a directive not read
/// here may define.
fn lenient(word: &str) -> Vec<String> {
    word.split('$')
        .skip(1)
        .map(|w| {
            let w = w.strip_prefix('{').unwrap_or(w);
            let end = w
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(w.len());
            w[..end].to_ascii_lowercase()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Named captures of a regex anywhere in the configuration (`(?<name>`, `(?P<name>`,
/// `(?'name'`): nginx defines a variable for each as it compiles the regex, and a word
/// that is not a regex only adds definitions, which never refuses.
fn captures(conf: &Config, out: &mut BTreeSet<String>) {
    let mut scan = |text: &str| {
        for open in ["(?<", "(?P<", "(?'"] {
            for (at, _) in text.match_indices(open) {
                let rest = &text[at + open.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if end > 0 {
                    out.insert(rest[..end].to_ascii_lowercase());
                }
            }
        }
    };
    scan(&conf.text);
    fn names<'c>(dirs: Vec<&'c Directive>, out: &mut Vec<&'c str>) {
        for d in dirs {
            out.push(&d.name);
            names(d.children(), out);
        }
    }
    let mut all = Vec::new();
    names(conf.top(), &mut all);
    all.into_iter().for_each(scan);
}

/// Which names some module defines, looked up once each.
struct Known<'m> {
    /// Per module, the byte ranges its code reads strings from.
    strings: Vec<(&'m [u8], Vec<std::ops::Range<usize>>)>,
    seen: HashMap<String, bool>,
}

impl Known<'_> {
    /// A name some module holds as a C string, or one that starts with such a string
    /// ending in `_` (a prefix family, however the module names it).
    fn defined(&mut self, name: &str) -> bool {
        let prefixes = name
            .match_indices('_')
            .map(|(i, _)| &name[..=i])
            .chain([name]);
        for p in prefixes {
            if let Some(&hit) = self.seen.get(p) {
                if hit {
                    return true;
                }
                continue;
            }
            let mut needle = p.as_bytes().to_vec();
            needle.push(0);
            let hit = self.strings.iter().any(|(bytes, ranges)| {
                ranges
                    .iter()
                    .any(|r| memchr::memmem::find(&bytes[r.clone()], &needle).is_some())
            });
            self.seen.insert(p.to_string(), hit);
            if hit {
                return true;
            }
        }
        false
    }
}

/// The parts of a module a running nginx reads its strings from: the sections of an
/// ELF file loaded into memory, without the string tables of symbol names (the
/// exported function `ngx_http_arg` would otherwise make `arg` look defined). Anything
/// that does not read as a 64-bit little-endian ELF file is searched whole.
fn loaded(p: &Program) -> (&[u8], Vec<std::ops::Range<usize>>) {
    const SHF_ALLOC: u64 = 2;
    const SHT_STRTAB: u32 = 3;
    const SHT_NOBITS: u32 = 8;
    let b = &p.bytes[..];
    let u16_at = |at: usize| {
        Some(u16::from_le_bytes(
            b.get(at..at.checked_add(2)?)?.try_into().ok()?,
        ))
    };
    let u32_at = |at: usize| {
        Some(u32::from_le_bytes(
            b.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let u64_at = |at: usize| {
        Some(u64::from_le_bytes(
            b.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let sections = || -> Option<Vec<std::ops::Range<usize>>> {
        if !b.starts_with(b"\x7fELF\x02\x01") {
            return None;
        }
        let shoff = usize::try_from(u64_at(0x28)?).ok()?;
        let size = usize::from(u16_at(0x3a)?);
        let count = usize::from(u16_at(0x3c)?);
        let mut out = Vec::new();
        for i in 0..count {
            let h = shoff.checked_add(i.checked_mul(size)?)?;
            let (kind, flags) = (u32_at(h.checked_add(4)?)?, u64_at(h.checked_add(8)?)?);
            let offset = usize::try_from(u64_at(h.checked_add(0x18)?)?).ok()?;
            let len = usize::try_from(u64_at(h.checked_add(0x20)?)?).ok()?;
            if flags & SHF_ALLOC == 0 || kind == SHT_STRTAB || kind == SHT_NOBITS {
                continue;
            }
            let end = offset.checked_add(len)?;
            if end > b.len() {
                return None;
            }
            out.push(offset..end);
        }
        (!out.is_empty()).then_some(out)
    };
    (
        b,
        sections().unwrap_or_else(|| std::iter::once(0..b.len()).collect()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_as_nginx_s_script_compiler_reads_them() {
        let r = |v: &str| references(v, true);
        assert_eq!(r("a $x b ${Y}z $1 $9x"), Some(vec!["x".into(), "y".into()]));
        assert_eq!(
            r("$host$request_uri"),
            Some(vec!["host".into(), "request_uri".into()])
        );
        assert_eq!(r("no variables"), Some(vec![]));
        assert_eq!(r("$x-y"), Some(vec!["x".into()]));
        // What nginx refuses for the value itself is not judged.
        assert_eq!(r("a $"), None);
        assert_eq!(r("$ x"), None);
        assert_eq!(r("${x"), None);
        assert_eq!(r("${x-y}"), None);
        assert_eq!(r("$0"), None);
        // log_format has no captures: `$1` is a variable named 1.
        assert_eq!(references("$1", false), None);
        assert_eq!(lenient("$a ${B}c $ $_d"), ["a", "b", "_d"]);
        assert!(plain("a_1") && !plain("1a") && !plain("a-b") && !plain(""));
    }

    fn judged(text: &str, names: &[&str]) -> Option<String> {
        let conf = super::super::load_files(
            [(
                std::path::PathBuf::from("/n.conf"),
                text.as_bytes().to_vec(),
            )]
            .into(),
            std::path::Path::new("/n.conf"),
        )
        .unwrap();
        let bytes: Vec<u8> = names
            .iter()
            .flat_map(|n| [n.as_bytes(), b"\0"].concat())
            .collect();
        let modules = [Program {
            path: "/nginx".into(),
            bytes: bytes.into(),
        }];
        first_unknown(&conf, &modules).map(|(_, m)| m)
    }

    #[test]
    fn a_variable_is_unknown_only_where_nginx_compiles_it_and_nothing_defines_it() {
        let builtin = ["host", "http_", "arg_", "uri"];
        let unknown = |name: &str| Some(format!("unknown \"{name}\" variable"));
        let j = |text: &str| judged(text, &builtin);
        assert_eq!(j("http { map x $v { '' $arg; } }"), unknown("arg"));
        assert_eq!(j("http { server { return 200 $Nope; } }"), unknown("nope"));
        assert_eq!(
            j("http { server { add_header X ${nope}; } }"),
            unknown("nope")
        );
        assert_eq!(j("stream { server { return $nope; } }"), unknown("nope"));
        assert_eq!(
            j("http { server { if ($nope) { return 404; } } }"),
            unknown("nope")
        );
        assert_eq!(
            j("http { server { if ( $nope ) { return 404; } } }"),
            unknown("nope")
        );
        assert_eq!(j("http { log_format f '$nope'; }"), unknown("nope"));
        assert_eq!(j("http { access_log /x if=$nope; }"), unknown("nope"));
        // Builtins, prefix families, captures and definitions anywhere.
        assert_eq!(j("http { server { return 200 $host$uri$1; } }"), None);
        assert_eq!(
            j("http { server { return 200 $http_x_foo$arg_id; } }"),
            None
        );
        assert_eq!(j("http { server { return 200 $v; set $v 1; } }"), None);
        assert_eq!(
            j("http { map $host $v {} server { return 200 $v; } }"),
            None
        );
        assert_eq!(j("http { geo $v {} server { return 200 $v; } }"), None);
        assert_eq!(
            j("http { geo $host $v {} server { return 200 $v; } }"),
            None
        );
        assert_eq!(
            j("http { split_clients $host $v {} server { return 200 $v; } }"),
            None
        );
        assert_eq!(
            j("http { server { location ~ (?<n>x) { return 200 $n; } } }"),
            None
        );
        assert_eq!(
            j("http { server { auth_request_set $v x; return 200 $v; } }"),
            None
        );
        assert_eq!(
            j("http { map $uri $v { ~(?P<m>x) 1; } server { return 200 $m; } }"),
            None
        );
        // A `$` in a regex, or in a directive not judged, is never judged.
        assert_eq!(
            j("http { server { location ~ x$nope { } rewrite ^$nope /; } }"),
            None
        );
        assert_eq!(j("http { server { if ($host ~ $nope) { } } }"), None);
        assert_eq!(j("http { server { proxy_cache_key $nope; } }"), None);
        // An http-level proxy_set_header is compiled only when a server inherits it.
        assert_eq!(j("http { proxy_set_header X $nope; }"), None);
        assert_eq!(
            j("http { proxy_set_header X $nope; server { proxy_set_header Y 1; } }"),
            None
        );
        assert_eq!(
            j("http { proxy_set_header X $nope; server {} }"),
            unknown("nope")
        );
        // Not judged: two unknown names (merging orders them), a third-party module, a
        // block not read here, a value nginx refuses for itself, no http{} left.
        assert_eq!(j("http { server { return 200 $a$b; } }"), None);
        assert_eq!(
            j("load_module m/ngx_http_js_module.so;\nhttp { server { return 200 $a; } }"),
            None
        );
        assert_eq!(
            j("http { server { content_by_lua_block { } return 200 $a; } }"),
            None
        );
        assert_eq!(j("http { server { return 200 \"$a $\"; } }"), None);
        assert_eq!(j("http { server { if (-z $a) { } } }"), None);
        assert_eq!(j("http { server { if ($a ! b) { } } }"), None);
        assert_eq!(j("http { server { return 200 $a; } }\nhttp {}"), None);
        // The first block nginx finishes is the one it names.
        assert_eq!(
            j("stream { server { return $a; } }\nhttp { server { return 200 '$b $b'; } }"),
            unknown("a")
        );
    }

    #[test]
    fn symbol_names_of_an_elf_file_are_not_searched() {
        // A minimal ELF64 header with two sections: one loaded (flags ALLOC), one a
        // string table of symbol names.
        let mut b = vec![0u8; 0x40];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let data = b.len();
        b.extend(b"uri\0");
        let strtab = b.len();
        b.extend(b"ngx_http_arg\0");
        let shoff = b.len();
        b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        for (kind, off, len) in [(1u32, data, 4u64), (3u32, strtab, 13u64)] {
            let mut h = vec![0u8; 64];
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[8..16].copy_from_slice(&2u64.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&len.to_le_bytes());
            b.extend(h);
        }
        let p = Program {
            path: "/nginx".into(),
            bytes: b.into(),
        };
        let mut k = Known {
            strings: vec![loaded(&p)],
            seen: HashMap::new(),
        };
        assert!(k.defined("uri"));
        assert!(!k.defined("arg"));
    }
}
