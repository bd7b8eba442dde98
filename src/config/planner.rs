//! `[planner]`, `[[planner.tariff]]` and `[[departure]]`: how the planner slices time,
//! what energy costs when, and the depot's departure schedule.
//!
//! Times of day are `"HH:MM"` in UTC (the daemon has no time-zone database; write the
//! schedule in UTC). A departure names either a charger or an id token. This module only
//! reads and checks; it never performs IO.

use super::Config;
use super::decode::{Doc, Table};

const PLANNER_KEYS: &[&str] = &[
    "slot-min",
    "horizon-h",
    "time-budget-ms",
    "default-price-per-kwh",
    "tariff",
];
const TARIFF_KEYS: &[&str] = &["from", "to", "price-per-kwh"];
const DEPARTURE_KEYS: &[&str] = &["charger", "id-token", "at", "energy-kwh"];

/// How the planner slices time and prices energy.
#[derive(Debug, Clone, PartialEq)]
pub struct Planner {
    /// Length of one plan slot, in minutes (divides 60).
    pub slot_min: u32,
    /// How far ahead the plan looks, in hours.
    pub horizon_h: u32,
    /// The solver's time limit per replan, in ms; past it the fallback plan is used.
    pub time_budget_ms: u32,
    /// Price outside every tariff window, per kWh (currency of the site).
    pub default_price_per_kwh: f64,
    pub tariffs: Vec<Tariff>,
}

impl Default for Planner {
    fn default() -> Self {
        Self {
            slot_min: 15,
            horizon_h: 24,
            time_budget_ms: 2000,
            default_price_per_kwh: 0.30,
            tariffs: Vec::new(),
        }
    }
}

/// A time-of-use price window; `from` > `to` wraps past midnight.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    /// Minutes after 00:00 UTC.
    pub from_min: u32,
    pub to_min: u32,
    pub price_per_kwh: f64,
}

/// Who a departure is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DepartureFor {
    Charger(String),
    IdToken(String),
}

/// A depot departure: the vehicle needs `energy_kwh` by `at_min` every day.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub who: DepartureFor,
    /// Minutes after 00:00 UTC.
    pub at_min: u32,
    /// Energy to add before departure, in kWh.
    pub energy_kwh: f64,
}

/// The price per kWh at a minute of the day.
pub fn price_at(planner: &Planner, minute_of_day: u32) -> f64 {
    for t in &planner.tariffs {
        let inside = if t.from_min <= t.to_min {
            (t.from_min..t.to_min).contains(&minute_of_day)
        } else {
            minute_of_day >= t.from_min || minute_of_day < t.to_min
        };
        if inside {
            return t.price_per_kwh;
        }
    }
    planner.default_price_per_kwh
}

/// `"HH:MM"` -> minutes after midnight.
pub fn parse_time_of_day(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn time_of_day(t: &Table<'_, '_>, key: &str, hint: &str) -> Option<u32> {
    let text = t.req_str(key, hint)?;
    let parsed = parse_time_of_day(&text);
    if parsed.is_none() {
        t.problem(
            key,
            format!("{text:?} is not a time of day"),
            Some("write \"HH:MM\" in UTC, e.g. \"05:00\"".into()),
        );
    }
    parsed
}

pub fn read_planner(t: &Table<'_, '_>) -> Option<Planner> {
    let d = Planner::default();
    let slot_min = t
        .opt_int("slot-min", 1, 60)
        .map_or(d.slot_min, |v| v as u32);
    let horizon_h = t
        .opt_int("horizon-h", 1, 72)
        .map_or(d.horizon_h, |v| v as u32);
    let budget = t
        .opt_int("time-budget-ms", 10, 60_000)
        .map_or(d.time_budget_ms, |v| v as u32);
    let default_price = t
        .opt_f64("default-price-per-kwh")
        .unwrap_or(d.default_price_per_kwh);
    let tariffs: Vec<Option<Tariff>> = t.tables("tariff").iter().map(read_tariff).collect();
    t.finish(PLANNER_KEYS);
    if 60 % slot_min != 0 {
        t.problem(
            "slot-min",
            format!("{slot_min} min does not divide an hour"),
            Some("use 5, 10, 15, 20, 30 or 60".into()),
        );
    }
    if default_price < 0.0 {
        t.problem("default-price-per-kwh", "a price cannot be negative", None);
    }
    Some(Planner {
        slot_min,
        horizon_h,
        time_budget_ms: budget,
        default_price_per_kwh: default_price,
        tariffs: tariffs.into_iter().collect::<Option<Vec<_>>>()?,
    })
}

fn read_tariff(t: &Table<'_, '_>) -> Option<Tariff> {
    let from = time_of_day(t, "from", "the window's start, \"HH:MM\" UTC");
    let to = time_of_day(t, "to", "the window's end, \"HH:MM\" UTC");
    let price = t.req_f64("price-per-kwh", "the energy price in this window, per kWh");
    t.finish(TARIFF_KEYS);
    let price = price?;
    if price < 0.0 {
        t.problem("price-per-kwh", "a price cannot be negative", None);
    }
    Some(Tariff {
        from_min: from?,
        to_min: to?,
        price_per_kwh: price,
    })
}

pub fn read_departure(t: &Table<'_, '_>) -> Option<Departure> {
    let charger = t.opt_str("charger");
    let token = t.opt_str("id-token");
    let at = time_of_day(t, "at", "the departure time, \"HH:MM\" UTC");
    let energy = t.req_f64("energy-kwh", "the energy the vehicle needs by then, in kWh");
    t.finish(DEPARTURE_KEYS);
    let who = match (charger, token) {
        (Some(c), None) => Some(DepartureFor::Charger(c)),
        (None, Some(tok)) => Some(DepartureFor::IdToken(tok)),
        _ => {
            t.problem(
                "charger",
                "a departure names exactly one of charger and id-token",
                Some("charger = \"CP-01\" or id-token = \"BUS-17\"".into()),
            );
            None
        }
    };
    let energy = energy?;
    if !(0.0..=2000.0).contains(&energy) {
        t.problem(
            "energy-kwh",
            format!("{energy} kWh is not a vehicle's need"),
            Some("between 0 and 2000 kWh".into()),
        );
    }
    Some(Departure {
        who: who?,
        at_min: at?,
        energy_kwh: energy,
    })
}

/// Departures must name a configured charger; at most one per charger or token.
pub fn check(doc: &Doc<'_>, config: &Config) {
    let mut seen = std::collections::HashSet::new();
    for (i, d) in config.departures.iter().enumerate() {
        if !seen.insert(d.who.clone()) {
            doc.report(
                &format!("departure[{i}]"),
                None,
                "a second departure for the same charger or id token",
                Some("keep one [[departure]] per charger or token".into()),
            );
        }
        if let DepartureFor::Charger(c) = &d.who
            && !config.chargers.iter().any(|ch| ch.id.as_str() == c)
        {
            doc.report(
                &format!("departure[{i}].charger"),
                None,
                format!("charger {c:?} is not defined"),
                Some("use the id of a [[charger]]".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_and_prices() {
        for (text, want) in [
            ("00:00", Some(0)),
            ("05:30", Some(330)),
            ("23:59", Some(1439)),
            ("24:00", None),
            ("5:00", None),
            ("aa:bb", None),
        ] {
            assert_eq!(parse_time_of_day(text), want, "{text}");
        }
        let p = Planner {
            tariffs: vec![Tariff {
                from_min: 22 * 60,
                to_min: 6 * 60,
                price_per_kwh: 0.18,
            }],
            ..Planner::default()
        };
        assert_eq!(price_at(&p, 23 * 60), 0.18);
        assert_eq!(price_at(&p, 60), 0.18);
        assert_eq!(price_at(&p, 12 * 60), 0.30);
    }
}
