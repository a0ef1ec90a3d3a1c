//! Terminal color: only on a tty, never with NO_COLOR (https://no-color.org) or
//! TERM=dumb (a terminal that cannot show escapes: Emacs' shell, some CI logs, as
//! ripgrep and cargo treat it), always with --color always.

use owo_colors::OwoColorize;
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn new(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                    && std::io::stdout().is_terminal()
            }
        };
        Style { color }
    }

    /// `s` through `f` when coloring, else as it is.
    fn paint(&self, s: &str, f: impl Fn(&str) -> String) -> String {
        if self.color {
            f(s)
        } else {
            s.to_string()
        }
    }

    pub fn red(&self, s: &str) -> String {
        self.paint(s, |s| s.red().bold().to_string())
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint(s, |s| s.yellow().to_string())
    }
    pub fn green(&self, s: &str) -> String {
        self.paint(s, |s| s.green().to_string())
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint(s, |s| s.dimmed().to_string())
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint(s, |s| s.bold().to_string())
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint(s, |s| s.cyan().to_string())
    }
}
