//! Profile errors: every one names the file, the line and the column.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The file as the user knows it: a path, or `builtin:NAME` for embedded profiles.
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ProfileError {}

/// A profile named on the command line or in `extends` that exists nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub name: String,
    pub known: Vec<String>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no profile named `{}` and no such file{} (known profiles: {})",
            self.name,
            crate::suggest::did_you_mean(&self.name, self.known.iter().map(String::as_str)),
            self.known.join(", ")
        )
    }
}

impl std::error::Error for NotFound {}
