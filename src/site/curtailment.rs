//! The temporary lower grid limits: the operator's (`PUT /api/v1/site/limit`: a
//! distribution operator's curtailment, or a depot that must stay under a lower peak for a
//! while) and the cloud CSMS's station maximum (the OCPP Local Controller), one per source.
//!
//! They lower only the grid connection (circuit 0), never raise it: the configured
//! `[site] grid-limit-a` is the fuse, and the margin still applies below the temporary
//! limit. The lowest in force applies, so one source can neither raise nor lift the
//! other's. The snapshot applies them while they are in force, so an end is seen at the
//! first snapshot after `until`. Pure, like the rest of `site`.

use chrono::{DateTime, Utc};

use super::{SiteSnapshot, SiteState, TemporaryLimit};
use crate::store::LimitSource;
use crate::units::Amps;

impl SiteState {
    /// Sets `source`'s temporary limit or (with `None`) removes it; the other source's
    /// stays as it is.
    pub fn set_temporary_limit(&mut self, source: LimitSource, limit: Option<TemporaryLimit>) {
        self.temporary_limits.retain(|l| l.source != source);
        if let Some(l) = limit {
            self.temporary_limits.push(TemporaryLimit { source, ..l });
        }
    }

    /// The temporary limits, in force or not yet seen ended.
    pub fn temporary_limits(&self) -> &[TemporaryLimit] {
        &self.temporary_limits
    }

    /// Forgets the temporary limits that have ended by `now`; true when one did (once).
    pub fn end_temporary_limit(&mut self, now: DateTime<Utc>) -> bool {
        let before = self.temporary_limits.len();
        self.temporary_limits.retain(|l| l.in_force(now));
        self.temporary_limits.len() < before
    }

    /// The grid connection's limit in `s` lowered to the lowest temporary one in force.
    /// One above the configured limit (the cloud may send any station maximum) lowers
    /// nothing, so it is not shown as the limit in force either.
    pub(super) fn curtail(&self, s: &mut SiteSnapshot, now: DateTime<Utc>) {
        let Some(grid) = s.circuits.first_mut() else {
            return;
        };
        s.temporary_limit = self
            .temporary_limits
            .iter()
            .filter(|l| l.in_force(now))
            .min_by(|a, b| a.limit.0.total_cmp(&b.limit.0))
            .filter(|l| l.limit.0 <= grid.limit.0)
            .copied();
        if let Some(l) = s.temporary_limit {
            grid.limit = Amps(l.limit.0);
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

    fn limit(source: LimitSource, limit_a: f64, until: Option<&str>) -> TemporaryLimit {
        TemporaryLimit {
            limit: Amps(limit_a),
            until: until.map(at),
            set_at: at("2026-12-01T08:00:00Z"),
            source,
        }
    }

    fn state() -> SiteState {
        SiteState::from_config(&crate::config::parse(SITE).unwrap_or_else(|p| panic!("{p:#?}")))
    }

    #[test]
    fn the_grid_limit_is_lowered_while_in_force_and_the_sub_board_untouched() {
        let mut s = state();
        s.set_temporary_limit(
            LimitSource::Operator,
            Some(limit(
                LimitSource::Operator,
                60.0,
                Some("2026-12-01T18:00:00Z"),
            )),
        );
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
        s.set_temporary_limit(
            LimitSource::Cloud,
            Some(limit(LimitSource::Cloud, 250.0, None)),
        );
        let snap = s.snapshot(at("2026-12-01T12:00:00Z"));
        assert_eq!(snap.circuits[0].limit, Amps(100.0));
        assert_eq!(
            snap.temporary_limit, None,
            "a limit that lowers nothing is not shown as the one in force"
        );
        s.set_temporary_limit(
            LimitSource::Operator,
            Some(limit(LimitSource::Operator, 100.0, None)),
        );
        assert_eq!(
            s.snapshot(at("2026-12-01T12:00:00Z"))
                .temporary_limit
                .map(|l| l.source),
            Some(LimitSource::Operator),
            "the operator's at the configured limit is shown: it is the lowest in force"
        );
        s.set_temporary_limit(LimitSource::Operator, None);
        s.set_temporary_limit(LimitSource::Cloud, None);
        assert_eq!(s.snapshot(at("2026-12-01T12:00:00Z")).temporary_limit, None);
    }

    #[test]
    fn the_lowest_source_applies_and_clearing_one_leaves_the_other() {
        let mut s = state();
        let noon = at("2026-12-01T12:00:00Z");
        s.set_temporary_limit(
            LimitSource::Operator,
            Some(limit(LimitSource::Operator, 60.0, None)),
        );
        s.set_temporary_limit(
            LimitSource::Cloud,
            Some(limit(LimitSource::Cloud, 80.0, None)),
        );
        assert_eq!(
            s.snapshot(noon).circuits[0].limit,
            Amps(60.0),
            "a higher cloud limit never raises the operator's"
        );
        s.set_temporary_limit(
            LimitSource::Cloud,
            Some(limit(
                LimitSource::Cloud,
                50.0,
                Some("2026-12-01T13:00:00Z"),
            )),
        );
        let snap = s.snapshot(noon);
        assert_eq!(snap.circuits[0].limit, Amps(50.0));
        assert_eq!(
            snap.temporary_limit.map(|l| l.source),
            Some(LimitSource::Cloud)
        );
        assert_eq!(
            s.snapshot(at("2026-12-01T13:00:00Z")).circuits[0].limit,
            Amps(60.0),
            "the cloud's ended: the operator's is back"
        );
        s.set_temporary_limit(LimitSource::Cloud, None);
        assert_eq!(s.snapshot(noon).circuits[0].limit, Amps(60.0));
        assert_eq!(s.temporary_limits().len(), 1);
    }
}
