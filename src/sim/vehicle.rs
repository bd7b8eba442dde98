//! A vehicle behind a simulated charger: what it draws from the current the charger offers.
//!
//! The charger offers a current per phase through the control pilot's PWM duty cycle; the
//! vehicle's on-board charger follows a change after a delay (IEC 61851-1 allows the EV
//! up to 5 s to reduce after the duty cycle drops) and never draws more than its own
//! maximum. An offer below 6 A (IEC 61851-1: the lowest duty cycle that allows charging)
//! stops the vehicle. Pure: the caller feeds it the offer it reads from the charger's
//! profiles, with the time, and asks what it draws at a time.
//!
//! A vehicle may be given an energy need (`with_need`): once the energy it has taken
//! reaches the need its battery is full and it draws 0 A whatever it is offered. Without
//! a need it draws for ever.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::ev::IEC_MIN_CURRENT_A;

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
    need: Option<Need>,
    /// From this time on it draws on this many phases instead (a vehicle that switches a
    /// phase on, or off, mid-session).
    switch: Option<(DateTime<Utc>, usize)>,
}

/// What a vehicle with a battery still takes.
#[derive(Debug, Clone, Copy)]
struct Need {
    /// Energy the vehicle takes before it is full, in Wh.
    wh: f64,
    /// Line-to-neutral voltage used to estimate the energy taken since the last
    /// `meter_wh` call (`draw_a` cannot integrate: it takes `&self`), in V.
    voltage_v: f64,
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
            need: None,
            switch: None,
        }
    }

    /// The same vehicle drawing on `phases` (1-3) of the charger's phases from `at` on.
    pub fn with_phases_from(mut self, at: DateTime<Utc>, phases: usize) -> Self {
        self.switch = Some((at, phases.clamp(1, 3)));
        self
    }

    /// The phases it draws on at `at`.
    pub fn phases_at(&self, at: DateTime<Utc>) -> usize {
        match self.switch {
            Some((from, phases)) if at >= from => phases,
            _ => self.phases,
        }
    }

    /// The same vehicle with a battery that is full after `need_wh` (Wh) more: from then
    /// on it draws 0 A. `voltage_v` (line-to-neutral, V) converts its draw into energy
    /// between two `meter_wh` calls; pass the voltage you give `meter_wh`.
    pub fn with_need(mut self, need_wh: f64, voltage_v: f64) -> Self {
        self.need = Some(Need {
            wh: need_wh.max(0.0),
            voltage_v: voltage_v.max(0.0),
        });
        self
    }

    /// The need given to `with_need` (the energy to take in all), in Wh; `None` without.
    pub fn need_wh(&self) -> Option<f64> {
        self.need.map(|n| n.wh)
    }

    /// Whether the vehicle would still draw if offered enough at `at`: always without a
    /// need, otherwise until its energy reaches the need.
    pub fn wants_more(&self, at: DateTime<Utc>) -> bool {
        match self.need {
            None => true,
            Some(need) => self.energy_at(at, need.voltage_v) < need.wh,
        }
    }

    /// The energy taken by `at`, in Wh: the register as of the last `meter_wh` call plus
    /// the draw then in force since (the draw only changes at those calls' resolution),
    /// capped at the need because a full battery takes nothing more.
    fn energy_at(&self, at: DateTime<Utc>, nominal_v: f64) -> f64 {
        let mut wh = self.energy_wh;
        if let Some((since, amps)) = self.last_draw
            && at > since
        {
            let hours = (at - since).as_seconds_f64() / 3600.0;
            // A switch between the calls counts from the next call on (the registers
            // are read every few seconds).
            wh += amps * self.phases_at(since) as f64 * nominal_v * hours;
        }
        match self.need {
            Some(need) => wh.min(need.wh),
            None => wh,
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
    /// capped at its maximum, 0 below the IEC minimum or before any offer has reached it,
    /// and 0 once its battery is full (see `with_need`).
    pub fn draw_a(&self, at: DateTime<Utc>) -> f64 {
        if !self.wants_more(at) {
            return 0.0;
        }
        let seen = at - self.delay;
        let offered = self
            .offers
            .iter()
            .rev()
            .find(|(t, _)| *t <= seen)
            .map_or(0.0, |(_, a)| *a);
        if offered < IEC_MIN_CURRENT_A {
            0.0
        } else {
            offered.min(self.max_a)
        }
    }

    /// The draw per charger phase L1..L3 at `at`.
    pub fn draw_per_phase(&self, at: DateTime<Utc>) -> [f64; 3] {
        let a = self.draw_a(at);
        let mut out = [0.0; 3];
        for phase in out.iter_mut().take(self.phases_at(at)) {
            *phase = a;
        }
        out
    }

    /// The phases the vehicle charges on when it plugs in (`phases_at`: after a switch).
    pub fn phases(&self) -> usize {
        self.phases
    }

    /// Adds the energy drawn since the last call (at `nominal_v` line-to-neutral) and
    /// returns the vehicle's energy register in Wh, for MeterValues. With a need, the
    /// register stops at the need: the battery filled up somewhere between the calls.
    pub fn meter_wh(&mut self, at: DateTime<Utc>, nominal_v: f64) -> f64 {
        if self.last_draw.is_some_and(|(since, _)| at > since) {
            self.energy_wh = self.energy_at(at, nominal_v);
        }
        // The register now covers everything up to `at`: restart the estimate there
        // before asking for the draw, or `draw_a` would count the last stretch twice.
        self.last_draw = Some((at, 0.0));
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
    fn a_vehicle_that_switches_phases_on_draws_on_them_from_then() {
        let mut ev = SimVehicle::new(16.0, 1, Duration::ZERO).with_phases_from(t(1000), 3);
        ev.offer(t(0), 16.0);
        assert_eq!(ev.draw_per_phase(t(999)), [16.0, 0.0, 0.0]);
        assert_eq!((ev.phases(), ev.phases_at(t(999))), (1, 1));
        assert_eq!(ev.draw_per_phase(t(1000)), [16.0; 3]);
        assert_eq!(ev.phases_at(t(1000)), 3);
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
        assert!(ev.wants_more(t(3_600_000)), "no need: never full");
        assert_eq!(ev.need_wh(), None);
    }

    #[test]
    fn a_vehicle_with_a_need_stops_when_its_battery_is_full() {
        // 16 A on 3 phases at 230 V: 11.04 kW, so 5520 Wh take exactly 30 min.
        let mut ev = SimVehicle::new(16.0, 3, Duration::ZERO).with_need(5520.0, 230.0);
        assert_eq!(ev.need_wh(), Some(5520.0));
        ev.offer(t(0), 32.0);
        assert_eq!(ev.meter_wh(t(0), 230.0), 0.0);
        let minute = 60_000;
        // Between two register calls the estimate still sees the energy coming in.
        assert!(ev.wants_more(t(29 * minute)));
        assert_eq!(ev.draw_a(t(29 * minute)), 16.0);
        assert!(!ev.wants_more(t(30 * minute)), "full after 30 min");
        assert_eq!(ev.draw_a(t(30 * minute)), 0.0);
        assert_eq!(ev.draw_per_phase(t(31 * minute)), [0.0; 3]);
        // The register stops at the need even though the last call was long ago.
        let wh = ev.meter_wh(t(60 * minute), 230.0);
        assert!((wh - 5520.0).abs() < 1e-9, "{wh}");
        assert!(!ev.wants_more(t(60 * minute)));
        // A higher offer does not wake a full battery.
        ev.offer(t(61 * minute), 32.0);
        assert_eq!(ev.draw_a(t(61 * minute)), 0.0);
        assert_eq!(ev.meter_wh(t(120 * minute), 230.0), wh);
    }

    #[test]
    fn a_paused_vehicle_with_a_need_keeps_wanting() {
        let mut ev = SimVehicle::new(32.0, 1, Duration::ZERO).with_need(1000.0, 230.0);
        ev.offer(t(0), 0.0);
        ev.meter_wh(t(0), 230.0);
        assert!(ev.wants_more(t(3_600_000)));
        // 10 A on one phase at 230 V for 15 min: 575 Wh, not yet full. (The register
        // takes the draw in force when it is read: offer first, then read.)
        ev.offer(t(3_600_000), 10.0);
        assert_eq!(ev.meter_wh(t(3_600_000), 230.0), 0.0);
        let wh = ev.meter_wh(t(3_600_000 + 900_000), 230.0);
        assert!((wh - 575.0).abs() < 1e-9, "{wh}");
        assert!(ev.wants_more(t(3_600_000 + 900_000)));
        assert_eq!(ev.draw_a(t(3_600_000 + 900_000)), 10.0, "575 of 1000 Wh");
        // 425 Wh more at 2.3 kW take 11 min 5.2 s.
        assert!(ev.wants_more(t(3_600_000 + 900_000 + 665_000)));
        assert!(!ev.wants_more(t(3_600_000 + 900_000 + 666_000)));
        let wh = ev.meter_wh(t(3 * 3_600_000), 230.0);
        assert!((wh - 1000.0).abs() < 1e-9, "{wh}");
        let zero = SimVehicle::new(32.0, 3, Duration::ZERO).with_need(0.0, 230.0);
        assert!(
            !zero.wants_more(t(0)),
            "nothing needed: full from the start"
        );
    }
}
