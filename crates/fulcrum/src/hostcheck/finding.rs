//! A finding of the host check: how bad it is and what to do, with the three constructors the
//! rules use.

use std::fmt;

/// How bad a finding is; the order is the exit code's: any error makes the check fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// What was found and, when something is wrong, what to do about it.
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(f, "{level}: {}", self.text)
    }
}

pub fn ok(text: String) -> Finding {
    Finding {
        level: Level::Ok,
        text,
    }
}

pub fn warning(text: String) -> Finding {
    Finding {
        level: Level::Warning,
        text,
    }
}

pub fn error(text: String) -> Finding {
    Finding {
        level: Level::Error,
        text,
    }
}
