//! A deterministic source of choices (a small LCG): a seed gives one history, so a failing
//! seed replays exactly, without randomness deciding a test's outcome.

/// A deterministic source of choices for one history.
pub struct Choices(pub u64);

impl Choices {
    /// A number below `below` (0 when `below` is 0).
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}
