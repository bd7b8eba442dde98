//! The operator's temporary lower grid limit (`PUT /api/v1/site/limit`): a distribution
//! operator's curtailment, or a depot that must stay under a lower peak for a while.
//!
//! It lowers only the grid connection (circuit 0), never raises it: the configured
//! `[site] grid-limit-a` is the fuse, and the margin still applies below the temporary
//! limit. The snapshot applies it while it is in force, so its end is seen at the first
//! snapshot after `until`. Pure, like the rest of `site`.

use chrono::{DateTime, Utc};

use super::{SiteSnapshot, SiteState, TemporaryLimit};
use crate::units::Amps;

impl SiteState {
    /// Sets or (with `None`) removes the temporary limit.
    pub fn set_temporary_limit(&mut self, limit: Option<TemporaryLimit>) {
        self.temporary_limit = limit;
    }

    /// The temporary limit, in force or not yet seen ended.
    pub fn temporary_limit(&self) -> Option<TemporaryLimit> {
        self.temporary_limit
    }

    /// Forgets a temporary limit that has ended by `now`; true when one did (once).
    pub fn end_temporary_limit(&mut self, now: DateTime<Utc>) -> bool {
        match self.temporary_limit {
            Some(l) if !l.in_force(now) => {
                self.temporary_limit = None;
                true
            }
            _ => false,
        }
    }

    /// The grid connection's limit in `s` lowered to the temporary one while it is in force.
    pub(super) fn curtail(&self, s: &mut SiteSnapshot, now: DateTime<Utc>) {
        s.temporary_limit = self.temporary_limit.filter(|l| l.in_force(now));
        if let (Some(l), Some(grid)) = (s.temporary_limit, s.circuits.first_mut()) {
            grid.limit = Amps(grid.limit.0.min(l.limit.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
[site]
id = "t"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 40

[[circuit]]
id = "board-a"
limit-a = 63

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
circuit = "board-a"
max-current-a = 32
"#;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn state() -> SiteState {
        SiteState::from_config(&crate::config::parse(SITE).unwrap_or_else(|p| panic!("{p:#?}")))
    }

    #[test]
    fn the_grid_limit_is_lowered_while_in_force_and_the_sub_board_untouched() {
        let mut s = state();
        s.set_temporary_limit(Some(TemporaryLimit {
            limit: Amps(60.0),
            until: Some(at("2026-12-01T18:00:00Z")),
            set_at: at("2026-12-01T08:00:00Z"),
        }));
        let during = s.snapshot(at("2026-12-01T12:00:00Z"));
        assert_eq!(during.circuits[0].limit, Amps(60.0));
        assert_eq!(during.circuits[1].limit, Amps(63.0));
        assert_eq!(during.budget(0), 55.0, "the margin still applies below it");
        assert!(during.temporary_limit.is_some());
        let after = s.snapshot(at("2026-12-01T18:00:00Z"));
        assert_eq!(after.circuits[0].limit, Amps(100.0));
        assert_eq!(after.temporary_limit, None);
        assert!(!s.end_temporary_limit(at("2026-12-01T17:00:00Z")));
        assert!(s.end_temporary_limit(at("2026-12-01T18:00:00Z")));
        assert!(
            !s.end_temporary_limit(at("2026-12-01T18:00:01Z")),
            "ends once"
        );
    }

    #[test]
    fn a_temporary_limit_above_the_configured_one_never_raises_it() {
        let mut s = state();
        s.set_temporary_limit(Some(TemporaryLimit {
            limit: Amps(250.0),
            until: None,
            set_at: at("2026-12-01T08:00:00Z"),
        }));
        assert_eq!(
            s.snapshot(at("2026-12-01T12:00:00Z")).circuits[0].limit,
            Amps(100.0)
        );
        s.set_temporary_limit(None);
        assert_eq!(s.snapshot(at("2026-12-01T12:00:00Z")).temporary_limit, None);
    }
}
