//! A one-line status on stderr during a long wait (nginx replaying a restart), on a
//! terminal only: a pipe or a log gets nothing, as cargo's progress line.

use std::io::{IsTerminal, Write};

/// Shown when made, erased when dropped.
pub struct Status {
    shown: bool,
}

impl Status {
    pub fn show(line: &str) -> Status {
        let shown = std::io::stderr().is_terminal();
        if shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", super::escape::line(line));
            let _ = err.flush();
        }
        Status { shown }
    }
}

impl Drop for Status {
    fn drop(&mut self) {
        if self.shown {
            // Back to the line's start and clear it: what follows prints on a clean line.
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
