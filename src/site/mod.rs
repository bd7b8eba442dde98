//! The site's state as the controller sees it. So far: the non-charger load per site
//! phase (`load`), derived from the meters and the chargers' measured currents.
//!
//! Pure deciding code (STYLE.md §1): no `.await`, no clock reads. The snapshot, the
//! circuits and the control loop that use it are later issues.

pub mod load;
