//! Redis calls in flight, counted for the pool's "in use" gauge.

use std::sync::atomic::{AtomicI64, Ordering};

/// Redis calls in flight, for the pool's "in use" gauge: the connections are shared, so what
/// is in use is calls, not connections.
#[derive(Default)]
pub struct InFlight(AtomicI64);

/// One call in flight; counted down when dropped, however the call ends.
pub struct Busy<'a>(&'a AtomicI64);

impl InFlight {
    pub fn enter(&self) -> Busy<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Busy(&self.0)
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
