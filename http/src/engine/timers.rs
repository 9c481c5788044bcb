//! The engine's timer thread: the `Date` header's refresh, connection deadlines, and the wind
//! down of idle connections while the engine stops.

use std::sync::atomic::Ordering;

use crate::engine::registry::EngineShared;

/// The timer thread: every tick, refreshes the `Date` and closes connections past their
/// deadline (and, while stopping, idle ones).
pub(crate) fn run_timers(shared: &EngineShared) {
    let tick = shared.config.timer_tick;
    while !shared.stopped.yield_timeout(tick) {
        shared.date.refresh();
        let now = shared.now_millis();
        shared.for_each_connection(|connection| {
            let deadline = connection.deadline.load(Ordering::Relaxed);
            let expired = deadline != 0 && now >= deadline;
            if expired {
                connection.deadline.store(0, Ordering::Relaxed);
                connection.shut_down();
            } else if connection.idle.load(Ordering::SeqCst)
                && connection.winding_down(&shared.stopping)
            {
                connection.wind_down();
            }
        });
    }
}
