//! nginx's tokenizer, ported state for state from `ngx_conf_read_token`
//! (src/core/ngx_conf_file.c), so that what nginx accepts we read as the same words and
//! what it rejects we reject with its message. Each word keeps its raw byte range, so an
//! edit can replace one argument and leave every other byte of the file alone.

use std::borrow::Cow;
use std::ops::Range;

/// nginx reads a config through a 4096-byte buffer and refuses a word that does not fit.
const NGX_CONF_BUFFER: usize = 4096;

/// One word of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The bytes as written, quotes included.
    pub raw: Range<usize>,
    /// The word as nginx stores it: quotes removed, `\" \' \\ \t \r \n` unescaped.
    pub value: Cow<'a, [u8]>,
    pub line: u32,
}

/// What ended a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `;` at this byte.
    Semicolon(usize),
    /// `{` at this byte.
    BlockStart(usize),
    /// `}` at this byte.
    BlockDone(usize),
    FileDone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub words: Vec<Token<'a>>,
    pub end: End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub message: String,
}

pub struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
}

#[inline(always)]
fn is_space(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Lexer<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Lexer {
            bytes,
            pos: 0,
            line: 1,
        }
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    fn error(&self, line: u32, message: String) -> LexError {
        LexError { line, message }
    }

    /// The next directive's words and what ended it. The flags are nginx's own; their
    /// order of tests matters (a `{` right after `$` stays in the word, a quote opens a
    /// quoted word only at the start of one, and so on).
    pub fn next_statement(&mut self) -> Result<Statement<'a>, LexError> {
        let b = self.bytes;
        let mut words = Vec::with_capacity(4);
        let mut need_space = false;
        let mut last_space = true;
        let mut sharp_comment = false;
        let mut variable = false;
        let mut quoted = false;
        let mut s_quoted = false;
        let mut d_quoted = false;
        // Where the current word (or comment) began, as nginx's `start`: after an
        // opening quote for a quoted word.
        let mut start = self.pos;
        let mut start_line = self.line;

        loop {
            if self.pos >= b.len() {
                if !words.is_empty() || !last_space {
                    return Err(self.error(
                        self.line,
                        "unexpected end of file, expecting \";\" or \"}\"".into(),
                    ));
                }
                return Ok(Statement {
                    words,
                    end: End::FileDone,
                });
            }
            // nginx notices a word that outgrows its buffer when it must read the byte
            // 4096 past the word's start and the file has more.
            if self.pos - start >= NGX_CONF_BUFFER {
                let message = if d_quoted {
                    "too long parameter, probably missing terminating \"\"\" character".into()
                } else if s_quoted {
                    "too long parameter, probably missing terminating \"'\" character".into()
                } else {
                    format!(
                        "too long parameter \"{}...\" started",
                        String::from_utf8_lossy(&b[start..start + 10])
                    )
                };
                return Err(self.error(start_line, message));
            }

            // Fast path: inside a comment or a word, bytes that change no state are
            // skipped in a tight loop; the state machine below sees only the others.
            // Bounded by nginx's buffer so the length check above still fires.
            if sharp_comment || (!last_space && !need_space && !quoted && !variable) {
                let limit = b.len().min(start + NGX_CONF_BUFFER);
                let rest = &b[self.pos..limit];
                let skip = if sharp_comment {
                    rest.iter().position(|&c| c == b'\n')
                } else if d_quoted {
                    rest.iter()
                        .position(|&c| matches!(c, b'"' | b'\\' | b'$' | b'\n'))
                } else if s_quoted {
                    rest.iter()
                        .position(|&c| matches!(c, b'\'' | b'\\' | b'$' | b'\n'))
                } else {
                    rest.iter().position(|&c| {
                        matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'\\' | b'$')
                    })
                };
                let n = skip.unwrap_or(rest.len());
                if n > 0 {
                    self.pos += n;
                    continue;
                }
            }

            let ch = b[self.pos];
            self.pos += 1;

            if ch == b'\n' {
                self.line += 1;
                sharp_comment = false;
            }
            if sharp_comment {
                continue;
            }
            if quoted {
                quoted = false;
                continue;
            }

            if need_space {
                if is_space(ch) {
                    last_space = true;
                    need_space = false;
                    continue;
                }
                match ch {
                    b';' => {
                        return Ok(Statement {
                            words,
                            end: End::Semicolon(self.pos - 1),
                        })
                    }
                    b'{' => {
                        return Ok(Statement {
                            words,
                            end: End::BlockStart(self.pos - 1),
                        })
                    }
                    // `if ($a = "b")`: the parenthesis starts a new word.
                    b')' => {
                        last_space = true;
                        need_space = false;
                    }
                    _ => {
                        return Err(self.error(self.line, format!("unexpected \"{}\"", ch as char)))
                    }
                }
            }

            if last_space {
                start = self.pos - 1;
                start_line = self.line;
                if is_space(ch) {
                    continue;
                }
                match ch {
                    b';' | b'{' => {
                        if words.is_empty() {
                            return Err(
                                self.error(self.line, format!("unexpected \"{}\"", ch as char))
                            );
                        }
                        let at = self.pos - 1;
                        let end = if ch == b'{' {
                            End::BlockStart(at)
                        } else {
                            End::Semicolon(at)
                        };
                        return Ok(Statement { words, end });
                    }
                    b'}' => {
                        if !words.is_empty() {
                            return Err(self.error(self.line, "unexpected \"}\"".into()));
                        }
                        return Ok(Statement {
                            words,
                            end: End::BlockDone(self.pos - 1),
                        });
                    }
                    b'#' => {
                        sharp_comment = true;
                        continue;
                    }
                    b'\\' => {
                        quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'"' => {
                        start += 1;
                        d_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'\'' => {
                        start += 1;
                        s_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'$' => {
                        variable = true;
                        last_space = false;
                        continue;
                    }
                    _ => last_space = false,
                }
            } else {
                if ch == b'{' && variable {
                    continue;
                }
                variable = false;
                if ch == b'\\' {
                    quoted = true;
                    continue;
                }
                if ch == b'$' {
                    variable = true;
                    continue;
                }
                let mut found = false;
                let mut was_quoted = false;
                if d_quoted {
                    if ch == b'"' {
                        d_quoted = false;
                        need_space = true;
                        found = true;
                        was_quoted = true;
                    }
                } else if s_quoted {
                    if ch == b'\'' {
                        s_quoted = false;
                        need_space = true;
                        found = true;
                        was_quoted = true;
                    }
                } else if is_space(ch) || ch == b';' || ch == b'{' {
                    last_space = true;
                    found = true;
                }
                if found {
                    let end = self.pos - 1;
                    let raw = if was_quoted {
                        start - 1..end + 1
                    } else {
                        start..end
                    };
                    words.push(Token {
                        raw,
                        value: unescape(&b[start..end]),
                        line: start_line,
                    });
                    if !was_quoted {
                        if ch == b';' {
                            return Ok(Statement {
                                words,
                                end: End::Semicolon(end),
                            });
                        }
                        if ch == b'{' {
                            return Ok(Statement {
                                words,
                                end: End::BlockStart(end),
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The word as nginx stores it; borrowed when there is nothing to unescape.
fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(b'"' | b'\'' | b'\\') => i += 1,
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Result<Vec<Vec<String>>, LexError> {
        let mut lx = Lexer::new(src.as_bytes());
        let mut out = Vec::new();
        loop {
            let st = lx.next_statement()?;
            if st.end == End::FileDone {
                return Ok(out);
            }
            out.push(
                st.words
                    .iter()
                    .map(|t| String::from_utf8_lossy(&t.value).into_owned())
                    .collect(),
            );
        }
    }

    #[test]
    fn brace_and_sharp_only_at_word_start() {
        assert_eq!(
            words("return 200 x};").unwrap(),
            vec![vec!["return", "200", "x}"]]
        );
        assert_eq!(words("return a#b;").unwrap(), vec![vec!["return", "a#b"]]);
        assert_eq!(words("a b #c;\n;").unwrap(), vec![vec!["a", "b"]]);
    }

    #[test]
    fn quotes_escapes_and_variables() {
        assert_eq!(
            words("a \"x y\" 'p\\'q' \\\"r \"t\\tu\" v\\w;").unwrap(),
            vec![vec!["a", "x y", "p'q", "\"r", "t\tu", "v\\w"]]
        );
        assert_eq!(
            words("return 200 ${host}x;").unwrap(),
            vec![vec!["return", "200", "${host}x"]]
        );
        assert_eq!(words("a b\"c\";").unwrap(), vec![vec!["a", "b\"c\""]]);
        assert!(words("a \"b\"c;").is_err());
        assert_eq!(
            words("if ($a = \"b\") {").unwrap(),
            vec![vec!["if", "($a", "=", "b", ")"]]
        );
    }

    #[test]
    fn raw_ranges_cover_quotes() {
        let src = "listen \"80\" backlog=5;";
        let st = Lexer::new(src.as_bytes()).next_statement().unwrap();
        assert_eq!(&src[st.words[1].raw.clone()], "\"80\"");
        assert_eq!(&src[st.words[2].raw.clone()], "backlog=5");
        assert_eq!(st.end, End::Semicolon(src.len() - 1));
    }

    #[test]
    fn errors_as_nginx_words_them() {
        assert_eq!(
            words("a b").unwrap_err().message,
            "unexpected end of file, expecting \";\" or \"}\""
        );
        assert_eq!(words(";").unwrap_err().message, "unexpected \";\"");
        assert_eq!(words("a }").unwrap_err().message, "unexpected \"}\"");
        let long = format!("a {};\nb;", "x".repeat(4096));
        assert!(words(&long)
            .unwrap_err()
            .message
            .starts_with("too long parameter"));
        let fits = format!("a {};\nb;", "x".repeat(4095));
        assert!(words(&fits).is_ok());
    }

    #[test]
    fn lines_count_inside_quotes_and_comments() {
        let mut lx = Lexer::new(b"# one\na \"x\ny\";\nb;");
        assert_eq!(lx.next_statement().unwrap().words[0].line, 2);
        assert_eq!(lx.next_statement().unwrap().words[0].line, 4);
    }
}
