//! Retry timing shared by sinks: capped, jittered exponential backoff, and
//! honouring the server's Retry-After.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

pub const DEFAULT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(30),
};

impl Backoff {
    /// Delay before retry number `attempt` (0-based): initial × 2^attempt,
    /// capped at `max`, then "full jitter" between half and all of it so many
    /// instances don't retry in lockstep.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let jittered = exponential.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        match retry_after {
            // The server knows best, within our cap.
            Some(wait) => wait.min(self.max).max(jittered.min(wait)),
            None => jittered,
        }
    }
}

/// Parses a Retry-After header given in seconds (the HTTP-date form is rare
/// for these APIs and is ignored).
pub fn retry_after_seconds(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_is_capped() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for attempt in 0..4 {
            let full = Duration::from_millis(100 * 2u64.pow(attempt));
            let delay = backoff.delay(attempt, None);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        for _ in 0..20 {
            assert!(backoff.delay(30, None) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let backoff = DEFAULT_BACKOFF;
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_after_seconds(Some(" 7 ")),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after_seconds(Some("Wed, 21 Oct 2015")), None);
    }
}
