//! Rate-limited log lines, for lines a remote peer can trigger (a target flapping on every probe,
//! an agent changing its value on every reply): each call site owns a [`LogLimiter`] (a
//! `static`), which lets through at most `per_window` lines per key (a target id, or 0) in each
//! `window` and counts the rest; the next line let through for that key says how many were
//! suppressed (`... (12 similar lines suppressed)`). Nothing is lost silently: the count is
//! exact, it is only reported late. The decision is pure ([`LogLimiter::admit`] takes the
//! time); [`limited!`](crate::limited) is the thin macro that reads the clock and logs through
//! `tracing`. Keys are bounded: past [`MAX_KEYS`] distinct keys, new ones share one budget.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Distinct keys one limiter tracks; more share the budget of key `u64::MAX`.
pub const MAX_KEYS: usize = 1024;
const OVERFLOW_KEY: u64 = u64::MAX;

/// Whether to log a line now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Log it; `suppressed` lines for this key were dropped since the last one logged.
    Log { suppressed: u64 },
    /// Drop it (counted).
    Suppress,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

#[derive(Debug)]
pub struct LogLimiter {
    per_window: u32,
    window: Duration,
    keys: Mutex<Option<HashMap<u64, Window>>>,
}

impl LogLimiter {
    pub const fn new(per_window: u32, window: Duration) -> LogLimiter {
        LogLimiter {
            per_window,
            window,
            keys: Mutex::new(None),
        }
    }

    /// Whether a line for `key` at `now` is logged, and how many were suppressed before it.
    pub fn admit(&self, key: u64, now: Instant) -> Admit {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = keys.get_or_insert_with(HashMap::new);
        let key = if keys.len() >= MAX_KEYS && !keys.contains_key(&key) {
            OVERFLOW_KEY
        } else {
            key
        };
        let window = keys.entry(key).or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(window.started) >= self.window {
            window.started = now;
            window.logged = 0;
        }
        if window.logged < self.per_window {
            window.logged += 1;
            let suppressed = std::mem::take(&mut window.suppressed);
            Admit::Log { suppressed }
        } else {
            window.suppressed += 1;
            Admit::Suppress
        }
    }
}

/// The suffix a logged line carries when lines were suppressed before it.
pub fn suppressed_suffix(suppressed: u64) -> String {
    match suppressed {
        0 => String::new(),
        1 => " (1 similar line suppressed)".to_string(),
        n => format!(" ({n} similar lines suppressed)"),
    }
}

/// `limited!(LIMITER, key, warn, "format", args...)`: logs through `tracing::warn!` (or
/// `info`, `debug`, ...) when `LIMITER` (a `static LogLimiter`) lets the line through for `key`.
#[macro_export]
macro_rules! limited {
    ($limiter:expr, $key:expr, $level:ident, $($arg:tt)+) => {
        if let $crate::loglimit::Admit::Log { suppressed } =
            $limiter.admit($key, ::std::time::Instant::now())
        {
            tracing::$level!(
                "{}{}",
                format_args!($($arg)+),
                $crate::loglimit::suppressed_suffix(suppressed)
            );
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_is_cut_and_the_next_line_counts_what_was_dropped() {
        let limiter = LogLimiter::new(3, SECOND);
        let start = Instant::now();
        let verdicts: Vec<Admit> = (0..10).map(|_| limiter.admit(7, start)).collect();
        assert_eq!(verdicts[..3], [Admit::Log { suppressed: 0 }; 3]);
        assert!(verdicts[3..].iter().all(|v| *v == Admit::Suppress));
        assert_eq!(
            limiter.admit(7, start + SECOND),
            Admit::Log { suppressed: 7 }
        );
        assert_eq!(
            limiter.admit(7, start + SECOND),
            Admit::Log { suppressed: 0 }
        );
    }

    #[test]
    fn keys_have_budgets_of_their_own() {
        let limiter = LogLimiter::new(1, SECOND);
        let now = Instant::now();
        assert_eq!(limiter.admit(1, now), Admit::Log { suppressed: 0 });
        assert_eq!(limiter.admit(1, now), Admit::Suppress);
        assert_eq!(limiter.admit(2, now), Admit::Log { suppressed: 0 });
    }

    #[test]
    fn keys_are_bounded() {
        let limiter = LogLimiter::new(1, SECOND);
        let now = Instant::now();
        for key in 0..MAX_KEYS as u64 {
            assert_eq!(limiter.admit(key, now), Admit::Log { suppressed: 0 });
        }
        // Two new keys share the overflow budget.
        assert_eq!(limiter.admit(1 << 40, now), Admit::Log { suppressed: 0 });
        assert_eq!(limiter.admit(1 << 41, now), Admit::Suppress);
        let keys = limiter.keys.lock().unwrap();
        assert_eq!(keys.as_ref().map(HashMap::len), Some(MAX_KEYS + 1));
    }

    #[test]
    fn time_going_backwards_does_not_reopen_the_window() {
        let limiter = LogLimiter::new(1, SECOND);
        let start = Instant::now() + Duration::from_secs(10);
        assert_eq!(limiter.admit(0, start), Admit::Log { suppressed: 0 });
        assert_eq!(limiter.admit(0, start - SECOND * 5), Admit::Suppress);
    }

    #[test]
    fn suffixes() {
        assert_eq!(suppressed_suffix(0), "");
        assert_eq!(suppressed_suffix(1), " (1 similar line suppressed)");
        assert_eq!(suppressed_suffix(12), " (12 similar lines suppressed)");
    }

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_macro_logs_what_is_admitted_and_reports_the_rest() {
        static LIMITER: LogLimiter = LogLimiter::new(2, Duration::from_millis(200));
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..50 {
                crate::limited!(LIMITER, 9, warn, "packet {n} from the peer");
            }
            std::thread::sleep(Duration::from_millis(250));
            crate::limited!(LIMITER, 9, warn, "packet {} from the peer", 50);
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("packet 0 from the peer"), "{text}");
        assert!(lines[1].ends_with("packet 1 from the peer"), "{text}");
        assert!(
            lines[2].ends_with("packet 50 from the peer (48 similar lines suppressed)"),
            "{text}"
        );
    }
}
