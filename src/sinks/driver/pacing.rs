//! Spacing between sends, so a receiver that bills or throttles per request
//! (chat webhooks) gets at most N a second however many are queued.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Pacing {
    gap: Duration,
    next: Mutex<Instant>,
}

impl Pacing {
    pub fn new(max_per_second: u32) -> Self {
        Pacing {
            gap: Duration::from_secs(1) / max_per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot and takes it. The slot is taken before
    /// the wait, so a wait cut off at shutdown still spaces the next send.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().expect("pacing poisoned");
            let slot = (*next).max(Instant::now());
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
