//! The time source, injected so expiry and rollup versions are testable. The wall clock is
//! read only at the edge (the binaries and the functions' INIT call [`system_clock`]); library
//! code takes a `now` or a [`Clock`].

use std::sync::Arc;
use std::time::Instant;

/// Milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// A clock stopped at `now_ms`.
pub fn fixed_clock(now_ms: i64) -> Clock {
    Arc::new(move || now_ms)
}

/// A clock that reads `now_ms` when made and then advances with the monotonic clock: work
/// given one `now` (a sync cycle, an import) still sees time pass while it runs (a lease
/// renewed, a rebuild's `lastChangeAt`) without reading the wall clock itself.
pub fn advancing_from(now_ms: i64) -> Clock {
    let started = Instant::now();
    Arc::new(move || now_ms.saturating_add(started.elapsed().as_millis() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stays_and_an_advancing_one_starts_at_its_now() {
        let fixed = fixed_clock(1_700_000_000_000);
        assert_eq!((fixed)(), 1_700_000_000_000);
        assert_eq!((fixed)(), 1_700_000_000_000);
        let advancing = advancing_from(1_700_000_000_000);
        let (first, second) = ((advancing)(), (advancing)());
        assert!(first >= 1_700_000_000_000 && second >= first);
    }
}
