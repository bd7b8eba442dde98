//! Virtual time paced against the wall: `speed` simulated seconds per real second.
//!
//! The demo runs the daemon and its simulated site on a current-thread runtime with
//! tokio's clock paused (`Clock::virtual_from`), as the depot-day tests do, so the daemon's
//! code is the same as in production and only its clock differs. A paused clock jumps to
//! the next timer whenever the runtime is idle; the pacer keeps it from racing ahead of the
//! wall: it lets virtual time run (a virtual sleep, during which the clock jumps from
//! timer to timer as fast as the machine runs them) to where `speed` times the real time
//! elapsed says, then holds it with a real sleep on the blocking pool until the wall
//! catches up. That hold works because tokio 1.54 does not auto-advance paused time while
//! a blocking task runs (`runtime/blocking/schedule.rs` inhibits auto-advance from
//! `spawn_blocking` until the task is released; `time::Clock`'s docs, "Preventing
//! auto-advance"). Chargers, meter polls and HTTP requests are served in real time
//! meanwhile: only timers wait. The schedule is absolute (step `k` ends at `k` real steps
//! from the start), so the time the simulation itself takes is not added to each step;
//! on a machine too slow for the speed the demo runs slower than asked, never skipping a
//! second of the simulation, and does not rush to catch up afterwards.

use std::time::Duration;

/// The real time of one pacing step: short enough that the page moves smoothly (at 60x,
/// 1.2 simulated seconds per step), long enough to cost nothing.
pub const REAL_STEP: Duration = Duration::from_millis(20);
/// Behind the wall by more than this, the schedule starts afresh instead of catching up.
const MAX_LAG: Duration = Duration::from_secs(1);

/// Paces the paused clock for ever (abort the task to stop). `speed` must be positive
/// and finite (`DemoOptions::check`).
pub async fn pace(speed: f64) {
    let mut real0 = std::time::Instant::now();
    let mut virtual0 = tokio::time::Instant::now();
    let mut k: u32 = 0;
    loop {
        k = k.saturating_add(1);
        tokio::time::sleep_until(virtual0 + (REAL_STEP * k).mul_f64(speed)).await;
        let due = real0 + REAL_STEP * k;
        let now = std::time::Instant::now();
        if now < due {
            // The handle resolves when the sleep is over; a failed join (the runtime
            // shutting down) ends the pacing.
            let hold = due - now;
            if tokio::task::spawn_blocking(move || std::thread::sleep(hold))
                .await
                .is_err()
            {
                return;
            }
        } else if now - due > MAX_LAG {
            real0 = now;
            virtual0 = tokio::time::Instant::now();
            k = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs real time: what it checks is the relation to the wall clock.
    #[test]
    fn virtual_time_runs_at_speed_times_the_wall() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let (virtual_s, real_s) = runtime.block_on(async {
            let pacer = tokio::spawn(pace(100.0));
            let real = std::time::Instant::now();
            let t0 = tokio::time::Instant::now();
            // A task that wants to run far ahead (as the simulation's 1 s ticks do).
            let mut ticks = 0u32;
            while real.elapsed() < Duration::from_millis(400) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                ticks += 1;
            }
            pacer.abort();
            assert!(ticks > 0);
            (t0.elapsed().as_secs_f64(), real.elapsed().as_secs_f64())
        });
        // 100x: about 40 s of virtual time in 0.4 s; never more than 100x (plus one tick).
        assert!(
            virtual_s <= real_s * 100.0 + 3.0,
            "{virtual_s} s in {real_s} s"
        );
        assert!(
            virtual_s >= real_s * 100.0 * 0.5,
            "{virtual_s} s in {real_s} s"
        );
    }
}
