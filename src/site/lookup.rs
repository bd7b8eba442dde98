//! Finding a charger of the site by its id, and what the API and the connections change
//! on one: `SiteState::index` keeps each charger's place in `snapshot.chargers` (charger
//! events are the hot path, one per MeterValues at hundreds of chargers; chargers are only
//! ever appended, by `from_config` and a reload).

use super::{ChargerState, Need, SiteState};
use crate::units::ChargerId;

impl SiteState {
    /// `index` rebuilt from `snapshot.chargers`.
    pub(super) fn indexed(mut self) -> Self {
        self.reindex();
        self
    }

    pub(super) fn reindex(&mut self) {
        self.index = (self.snapshot.chargers.iter().enumerate())
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
    }

    pub(super) fn charger_mut(&mut self, charger: &ChargerId) -> Option<&mut ChargerState> {
        let i = *self.index.get(charger)?;
        self.snapshot.chargers.get_mut(i)
    }

    /// Whether the site file has this charger.
    pub fn has_charger(&self, charger: &ChargerId) -> bool {
        self.index.contains_key(charger)
    }

    /// A need set through the API; false for an unknown charger or no vehicle.
    pub fn set_need(&mut self, charger: &ChargerId, need: Need) -> bool {
        match self.charger_mut(charger).and_then(|c| c.vehicle.as_mut()) {
            Some(v) => {
                v.need = Some(need);
                true
            }
            None => false,
        }
    }

    /// Marks a charger offline (its connection closed): it runs on its failsafe.
    pub fn set_offline(&mut self, charger: &ChargerId) {
        self.status_known.remove(charger);
        self.learned.forget(charger);
        if let Some(c) = self.charger_mut(charger) {
            c.online = false;
        }
    }
}
