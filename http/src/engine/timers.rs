//! The engine's timer thread: the `Date` header's refresh, connection deadlines, and the wind
//! down of idle connections and long-lived exchanges while the engine stops.

use std::sync::atomic::Ordering;

use crate::engine::registry::EngineShared;

/// The timer thread: every tick, refreshes the `Date`, ends the reads and writes that are past
/// their connection's deadline (and, while stopping, the waits of idle connections).
pub(crate) fn run_timers(shared: &EngineShared) {
    let tick = shared.config.timer_tick;
    while !shared.stopped.yield_timeout(tick) {
        shared.date.refresh();
        let now = shared.now_millis();
        shared.for_each_connection(|connection| {
            connection.fire_deadline_at(now);
            if connection.winding_down(&shared.stopping) {
                if connection.idle.load(Ordering::SeqCst) {
                    connection.wind_down();
                }
                // A long-lived exchange (an upgraded protocol, an event stream) starts its end
                // now rather than at its next look.
                connection.run_wind_down_hook();
            }
        });
    }
}
