//! A vehicle behind a simulated charger: what it draws from the current the charger offers.
//!
//! The charger offers a current per phase through the control pilot's PWM duty cycle; the
//! vehicle's on-board charger follows a change after a delay (IEC 61851-1 allows the EV
//! up to 5 s to reduce after the duty cycle drops) and never draws more than its own
//! maximum. An offer below 6 A (IEC 61851-1: the lowest duty cycle that allows charging)
//! stops the vehicle. Pure: the caller feeds it the offer it reads from the charger's
//! profiles, with the time, and asks what it draws at a time.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

/// Below this offer (A per phase) a vehicle does not charge (IEC 61851-1 duty cycle 10 %).
pub const IEC_MIN_OFFER_A: f64 = 6.0;

/// One simulated vehicle.
#[derive(Debug, Clone)]
pub struct SimVehicle {
    max_a: f64,
    phases: usize,
    delay: TimeDelta,
    /// The offers seen, oldest first; trimmed to the last one older than `delay`.
    offers: VecDeque<(DateTime<Utc>, f64)>,
    energy_wh: f64,
    last_draw: Option<(DateTime<Utc>, f64)>,
}

impl SimVehicle {
    /// A vehicle that draws at most `max_a` per phase on `phases` (1-3) of the charger's
    /// phases, starting with L1, and follows an offer `delay` after it is made.
    pub fn new(max_a: f64, phases: usize, delay: std::time::Duration) -> Self {
        Self {
            max_a: max_a.max(0.0),
            phases: phases.clamp(1, 3),
            delay: TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero()),
            offers: VecDeque::new(),
            energy_wh: 0.0,
            last_draw: None,
        }
    }

    /// The charger offers `offered_a` per phase from `at` on. Offers must come in time
    /// order; an older one is ignored.
    pub fn offer(&mut self, at: DateTime<Utc>, offered_a: f64) {
        if self.offers.back().is_some_and(|(t, _)| *t > at) {
            return;
        }
        self.offers.push_back((at, offered_a));
        // Keep the newest offer the vehicle may still be following.
        let horizon = at - self.delay;
        while self.offers.len() > 1 && self.offers[1].0 <= horizon {
            self.offers.pop_front();
        }
    }

    /// The current per phase the vehicle draws at `at`: the offer in force `delay` earlier,
    /// capped at its maximum, 0 below the IEC minimum or before any offer has reached it.
    pub fn draw_a(&self, at: DateTime<Utc>) -> f64 {
        let seen = at - self.delay;
        let offered = self
            .offers
            .iter()
            .rev()
            .find(|(t, _)| *t <= seen)
            .map_or(0.0, |(_, a)| *a);
        if offered < IEC_MIN_OFFER_A {
            0.0
        } else {
            offered.min(self.max_a)
        }
    }

    /// The draw per charger phase L1..L3 at `at`.
    pub fn draw_per_phase(&self, at: DateTime<Utc>) -> [f64; 3] {
        let a = self.draw_a(at);
        let mut out = [0.0; 3];
        for phase in out.iter_mut().take(self.phases) {
            *phase = a;
        }
        out
    }

    /// The phases the vehicle charges on.
    pub fn phases(&self) -> usize {
        self.phases
    }

    /// Adds the energy drawn since the last call (at `nominal_v` line-to-neutral) and
    /// returns the vehicle's energy register in Wh, for MeterValues.
    pub fn meter_wh(&mut self, at: DateTime<Utc>, nominal_v: f64) -> f64 {
        if let Some((since, amps)) = self.last_draw
            && at > since
        {
            let hours = (at - since).as_seconds_f64() / 3600.0;
            self.energy_wh += amps * self.phases as f64 * nominal_v * hours;
        }
        self.last_draw = Some((at, self.draw_a(at)));
        self.energy_wh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn follows_an_offer_after_its_delay_and_caps_at_its_maximum() {
        let mut ev = SimVehicle::new(16.0, 3, Duration::from_millis(500));
        ev.offer(t(0), 32.0);
        assert_eq!(ev.draw_a(t(499)), 0.0, "not yet seen");
        assert_eq!(ev.draw_a(t(500)), 16.0, "its own maximum");
        ev.offer(t(1000), 10.0);
        assert_eq!(ev.draw_a(t(1400)), 16.0, "still the old offer");
        assert_eq!(ev.draw_a(t(1500)), 10.0);
        assert_eq!(ev.draw_per_phase(t(1500)), [10.0, 10.0, 10.0]);
    }

    #[test]
    fn an_offer_below_six_amps_stops_the_vehicle() {
        let mut ev = SimVehicle::new(32.0, 1, Duration::ZERO);
        ev.offer(t(0), 5.9);
        assert_eq!(ev.draw_a(t(0)), 0.0);
        ev.offer(t(10), 6.0);
        assert_eq!(ev.draw_per_phase(t(10)), [6.0, 0.0, 0.0]);
        ev.offer(t(20), 0.0);
        assert_eq!(ev.draw_a(t(20)), 0.0);
    }

    #[test]
    fn the_history_keeps_what_the_delay_still_needs() {
        let mut ev = SimVehicle::new(32.0, 3, Duration::from_millis(1000));
        for i in 0..100 {
            ev.offer(t(i * 100), if i % 2 == 0 { 8.0 } else { 20.0 });
        }
        assert!(ev.offers.len() <= 12, "{}", ev.offers.len());
        // At 9.9 s the vehicle follows the offer made at 8.9 s (odd: 20 A).
        assert_eq!(ev.draw_a(t(9900)), 20.0);
        // The offers since then are all kept: 9.0 s (8 A) is followed at 10.0 s.
        assert_eq!(ev.draw_a(t(10_000)), 8.0);
        assert_eq!(ev.draw_a(t(10_950)), 20.0);
    }

    #[test]
    fn the_energy_register_integrates_the_draw() {
        let mut ev = SimVehicle::new(16.0, 3, Duration::ZERO);
        ev.offer(t(0), 16.0);
        assert_eq!(ev.meter_wh(t(0), 230.0), 0.0);
        let wh = ev.meter_wh(t(3_600_000), 230.0);
        assert!((wh - 16.0 * 3.0 * 230.0).abs() < 1e-6, "{wh}");
    }
}
