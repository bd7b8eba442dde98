//! File descriptors (issue 17): at systemd's default soft limit of 1,024, a flood of
//! sockets used the last descriptor before the listener's own caps were reached, and a
//! meter's reconnect failed with EMFILE. The unit sets `LimitNOFILE`; at start the soft
//! limit is raised to the hard one, and compared with what chargegate's caps can hold
//! open at once plus a reserve for the meters, the store and the API.

use nix::sys::resource::rlim_t;

use crate::config::Config;

/// Descriptors kept free beyond the socket caps: the store (database, WAL, shared
/// memory), the journal, the runtime's own (epoll, eventfds), a meter reconnecting while
/// its old socket closes, a serial port, the profile files read at start.
pub const RESERVE: u64 = 128;

/// What chargegate may hold open at once under `config`.
pub fn needed(config: &Config) -> u64 {
    let chargers = config.chargers.len() as u64;
    let meters = config.meters.len() as u64;
    (crate::charger::limits::MAX_HANDSHAKES
        + crate::charger::limits::MAX_PENDING
        + crate::http::MAX_CONNECTIONS) as u64
        // A reconnecting charger holds its old socket until the new one replaces it.
        + 2 * chargers
        + meters
        + RESERVE
}

/// The most the soft limit is raised to: Linux refuses more than `fs.nr_open` (2^20 by
/// default) even when the hard limit says unlimited.
const MAX_SOFT_LIMIT: rlim_t = 1 << 20;

/// Raises the soft descriptor limit to the hard one (at most `MAX_SOFT_LIMIT`); returns
/// the soft limit now in force, or why it could not be read.
pub fn raise_soft_limit() -> Result<u64, String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let target = hard.min(MAX_SOFT_LIMIT);
    if soft < target {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).map_err(|e| e.to_string())?;
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    Ok(widen(soft))
}

/// A limit as `u64`: `rlim_t` is `u64` on 64-bit Linux but `u32` on 32-bit ARM (armv7).
#[allow(clippy::useless_conversion, reason = "rlim_t is u32 on 32-bit targets")]
fn widen(limit: rlim_t) -> u64 {
    limit.into()
}

/// A warning when `limit` cannot hold what `needed` says, for the log at start.
pub fn shortfall(limit: u64, needed: u64) -> Option<String> {
    (limit < needed).then(|| {
        format!(
            "the file descriptor limit is {limit}, but a full listener and API need {needed}: \
             under a flood of connections a meter or the store may fail with \"too many open \
             files\"; set LimitNOFILE={} or more in the systemd unit",
            needed.next_power_of_two()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_raised_and_checked_against_the_caps() {
        let config = crate::config::parse(
            "[site]\nid = \"d\"\ngrid-limit-a = 100\nworst-case-load-a = 10\n\
             [[charger]]\nid = \"CP-1\"\npassword = \"correct-horse\"\nmax-current-a = 32\n",
        )
        .unwrap_or_else(|p| panic!("{p:#?}"));
        let needed = needed(&config);
        assert!(
            needed > 1024,
            "a full listener does not fit the default 1,024: {needed}"
        );
        let limit = raise_soft_limit().expect("the limit can be read");
        let (_, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert!(
            limit >= widen(hard.min(MAX_SOFT_LIMIT)),
            "the soft limit {limit} is raised to the hard one {hard}"
        );
        assert!(shortfall(1024, needed).is_some_and(|w| w.contains("LimitNOFILE=2048")));
        assert_eq!(shortfall(8192, needed), None);
    }
}
