//! The agent's value between command runs, pure (the caller passes the time). Requests never
//! wait for the command: each gets the latest value at once. The command runs at most once at
//! a time, and again only when the value is older than `max_age` and someone asked for it in
//! the last `demand_window` (so an agent nobody queries runs nothing, and one being queried
//! keeps its value at most `max_age` plus one run old).
//!
//! The driver calls [`ValueCache::on_request`] for every answered request, asks
//! [`ValueCache::start_run`] whether to run the command now (and marks the run started), and
//! reports the result with [`ValueCache::finish_run`].

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ValueCache {
    max_age: Duration,
    demand_window: Duration,
    value: u32,
    updated: Option<Instant>,
    running: bool,
    last_request: Option<Instant>,
}

impl ValueCache {
    pub fn new(max_age: Duration, demand_window: Duration) -> ValueCache {
        ValueCache {
            max_age,
            demand_window,
            value: 0,
            updated: None,
            running: false,
            last_request: None,
        }
    }

    /// The value to answer with now (0 before the first run has finished).
    pub fn on_request(&mut self, now: Instant) -> u32 {
        self.last_request = Some(self.last_request.map_or(now, |last| last.max(now)));
        self.value
    }

    /// Whether the value has been computed at least once.
    pub fn has_value(&self) -> bool {
        self.updated.is_some()
    }

    /// True (and the run counted as started) when the command should run now: none is
    /// running, the value is missing or older than `max_age`, and it is wanted.
    pub fn start_run(&mut self, now: Instant) -> bool {
        if self.running {
            return false;
        }
        let stale = self
            .updated
            .is_none_or(|at| now.saturating_duration_since(at) >= self.max_age);
        let wanted = !self.has_value()
            || self
                .last_request
                .is_some_and(|at| now.saturating_duration_since(at) < self.demand_window);
        if stale && wanted {
            self.running = true;
        }
        self.running
    }

    /// The run started by [`ValueCache::start_run`] produced `value` at `now`.
    pub fn finish_run(&mut self, value: u32, now: Instant) {
        self.running = false;
        self.value = value;
        self.updated = Some(now);
    }

    /// When the value becomes stale (the next time a run may be due), if it has one.
    pub fn stale_at(&self) -> Option<Instant> {
        self.updated.map(|at| at + self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(1);
    const DEMAND: Duration = Duration::from_secs(30);

    #[test]
    fn the_first_run_happens_without_a_request() {
        let now = Instant::now();
        let mut cache = ValueCache::new(AGE, DEMAND);
        assert!(cache.start_run(now));
        assert!(!cache.start_run(now), "one run at a time");
        cache.finish_run(7, now);
        assert_eq!(cache.on_request(now), 7);
    }

    #[test]
    fn requests_during_a_slow_run_get_the_last_value_at_once() {
        let start = Instant::now();
        let mut cache = ValueCache::new(AGE, DEMAND);
        assert!(cache.start_run(start));
        cache.finish_run(5, start);
        let later = start + Duration::from_secs(2);
        assert_eq!(cache.on_request(later), 5);
        assert!(cache.start_run(later), "stale and wanted: refresh");
        // A 2 s command: a hundred requests meanwhile, none starts another run, all get 5.
        for ms in 0..100 {
            let now = later + Duration::from_millis(ms * 20);
            assert_eq!(cache.on_request(now), 5);
            assert!(!cache.start_run(now));
        }
        cache.finish_run(6, later + Duration::from_secs(2));
        assert_eq!(cache.on_request(later + Duration::from_secs(2)), 6);
    }

    #[test]
    fn a_fresh_value_is_not_recomputed() {
        let start = Instant::now();
        let mut cache = ValueCache::new(AGE, DEMAND);
        assert!(cache.start_run(start));
        cache.finish_run(1, start);
        let soon = start + Duration::from_millis(999);
        cache.on_request(soon);
        assert!(!cache.start_run(soon));
        assert_eq!(cache.stale_at(), Some(start + AGE));
        assert!(cache.start_run(start + AGE));
    }

    #[test]
    fn nobody_asking_means_no_runs() {
        let start = Instant::now();
        let mut cache = ValueCache::new(AGE, DEMAND);
        assert!(cache.start_run(start));
        cache.finish_run(1, start);
        assert!(
            !cache.start_run(start + Duration::from_secs(5)),
            "never asked"
        );
        cache.on_request(start + Duration::from_secs(5));
        assert!(cache.start_run(start + Duration::from_secs(6)));
        cache.finish_run(2, start + Duration::from_secs(6));
        assert!(
            !cache.start_run(start + Duration::from_secs(40)),
            "asked long ago"
        );
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut cache = ValueCache::new(AGE, DEMAND);
        assert!(cache.start_run(start));
        cache.finish_run(3, start);
        cache.on_request(start - Duration::from_secs(5));
        assert!(!cache.start_run(start - Duration::from_secs(5)));
    }
}
