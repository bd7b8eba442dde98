//! Every cap, lifetime and backoff of the listener, in one place, each with why it has its
//! value (issue 17, "Hardening"). A depot has tens of chargers on a LAN; these numbers are
//! flood guards sized far above that, never limits a real charger meets in normal use.
//!
//! Must hold constants only: the rules that use them are `gate.rs` (pure) and `server.rs`.

use std::time::Duration;

/// From accept to the WebSocket upgrade (TLS, request head, credential check, 101): a
/// charger on a LAN needs well under a second; 10 s leaves room for a slow cellular link.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections get to close at shutdown (systemd's stop timeout is longer).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Sockets still in their handshake, all addresses together. When full, the oldest one is
/// closed for the newcomer: a stranger holding sockets open can delay nobody but itself,
/// because a real charger sends its request as soon as it connects. 1,024 such sockets
/// cost at most 8 MiB of head buffers.
pub const MAX_HANDSHAKES: usize = 1024;
/// Sockets in their handshake from one address. Past this, the address's own oldest socket
/// is closed, so one host cannot evict the handshakes of chargers at other addresses.
/// A quarter of the total: four busy hosts (NAT, a load test) still fit.
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 256;

/// The longest HTTP upgrade request head read (request line and headers). A charger's is
/// about 300 bytes; tungstenite itself refuses heads past 8 KiB as well.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// argon2 verifications at once (`password-hash`). One verification costs ~25 ms of a core
/// and 19 MiB: one at a time leaves the second core of a two-core box to the runtime, and
/// bounds the memory. Waiting ones wait within the handshake deadline.
pub const ARGON2_CONCURRENCY: usize = 1;

/// Unregistered (`unknown-chargers = "pending"`) connections at once. A depot registers a
/// few new chargers at a time; a handful is plenty for an installer, and the cap keeps
/// strangers from holding sockets.
pub const MAX_PENDING: usize = 16;
/// Pending connections from one address: a few chargers behind one NAT router.
pub const MAX_PENDING_PER_ADDRESS: usize = 4;
/// A Pending connection is closed after this long; the charger reconnects and boots again
/// (OCPP 1.6 §4.2.1 / 2.0.1 B02: a Pending charger retries its BootNotification anyway),
/// so an operator's `[[charger]]` entry takes effect without unplugging it.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// New Pending charger ids admitted in a burst, and then one per `PENDING_NEW_ID_EVERY`.
/// An id seen within `PENDING_ID_MEMORY` reconnects freely. Each new id is a stored row
/// the operator reads, so a stranger spraying random ids gets a trickle, not thousands.
pub const PENDING_NEW_ID_BURST: u32 = 16;
pub const PENDING_NEW_ID_EVERY: Duration = Duration::from_secs(60);
/// Longer than `PENDING_LIFETIME`, so a Pending charger's reconnect is never "new".
pub const PENDING_ID_MEMORY: Duration = Duration::from_secs(60 * 60);
/// Stored rows of chargers that are not configured and were not seen for this long are
/// deleted (hourly): a day lets an operator find a new charger in the list.
pub const UNKNOWN_ROW_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often those rows are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Wrong credentials an address or a charger id may send before backing off: a charger
/// with a mistyped password retries a few times; brute force needs thousands.
pub const FREE_FAILURES: u32 = 5;
/// The first backoff; each further failure doubles it.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest backoff: long enough to make guessing useless (at most one checked guess a
/// minute per address), short enough that a fixed charger gets in soon.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Failures older than this are forgotten.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked for backoff at most (IPv6 gives an attacker many): when full,
/// forgotten entries are dropped first; a new address is then not tracked, and the per-id
/// backoff still protects the configured chargers.
pub const MAX_TRACKED_ADDRESSES: usize = 4096;

/// At most one line per this interval for each kind of flood warning (evictions, refusals),
/// with the number of events it stands for: an attack must not fill the journal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The WebSocket read buffer of one connection. tungstenite allocates it at once for every
/// connection, and its default is 128 KiB (500 chargers: 62.5 MiB, BENCHMARKS.md). It only
/// bounds one read from the socket: a frame whose header announces more gets its whole
/// length reserved (up to the message limits), so a large NotifyReport still arrives whole,
/// in a few more reads. Most OCPP frames are well below 4 KiB.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
