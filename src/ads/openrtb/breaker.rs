//! A bidder that fails again and again (times out, errs, answers what is not a `BidResponse`) is
//! skipped for a while, so that its failures cost the pages nothing, and then tried again with one
//! page's request: a success closes the breaker, a failure pauses the bidder again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Breaker {
    failures_to_pause: u32,
    pause: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Failures since the last success.
    failures: u32,
    /// Skipped until then.
    paused_until: Option<Instant>,
    /// A request after a pause is out; the others wait for its outcome.
    probing: bool,
}

impl Breaker {
    pub fn new(failures_to_pause: u32, pause: Duration) -> Breaker {
        Breaker {
            failures_to_pause: failures_to_pause.max(1),
            pause,
            state: Mutex::default(),
        }
    }

    /// Whether the bidder is asked now.
    pub fn admit(&self, now: Instant) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        match s.paused_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) if s.probing => false,
            Some(_) => {
                s.probing = true;
                true
            }
        }
    }

    /// The outcome of an admitted request.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if succeeded {
            *s = State::default();
            return;
        }
        s.failures += 1;
        if s.probing || s.failures >= self.failures_to_pause {
            s.paused_until = Some(now + self.pause);
            s.probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_after_failures_then_probed_once() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(breaker.admit(t0));
            breaker.record(false, t0);
        }
        assert!(breaker.admit(t0), "two failures do not pause");
        breaker.record(false, t0);
        assert!(!breaker.admit(t0 + Duration::from_secs(9)), "paused");
        let later = t0 + Duration::from_secs(10);
        assert!(breaker.admit(later), "tried again after the pause");
        assert!(!breaker.admit(later), "one probe at a time");
        breaker.record(false, later);
        assert!(!breaker.admit(later + Duration::from_secs(1)), "a failed probe pauses again");
        let again = later + Duration::from_secs(10);
        assert!(breaker.admit(again));
        breaker.record(true, again);
        assert!(breaker.admit(again) && breaker.admit(again), "a success closes it");
    }

    #[test]
    fn a_success_forgets_the_failures_before_it() {
        let breaker = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(false, t0);
        breaker.record(true, t0);
        breaker.record(false, t0);
        assert!(breaker.admit(t0));
    }
}
