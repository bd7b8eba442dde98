//! `[http]`: where the operator's API listens, which host names it answers to, and who
//! may use it (`[[http.token]]`, DESIGN.md "HTTP").
//!
//! A token is stored as an argon2 PHC hash (`chargegate hash-password`), never in clear:
//! the site file is read by whoever services the gateway, the token opens the chargers.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::charger::is_argon2_hash;
use super::decode::{Table, addr};

const HTTP_KEYS: &[&str] = &[
    "listen",
    "allowed-hosts",
    "require-token-for-reads",
    "token",
];
const HTTP_TOKEN_KEYS: &[&str] = &["name", "token-hash", "role"];

#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    pub listen: SocketAddr,
    /// `allowed-hosts`: names the API answers to besides IP addresses and `localhost`
    /// (a request addressed to any other name is refused: DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// `require-token-for-reads`: reads need a token too (of either role).
    pub require_token_for_reads: bool,
    /// `[[http.token]]`: the bearer tokens the API accepts.
    pub tokens: Vec<ApiToken>,
}

/// What a token holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiRole {
    /// Reads only (a status screen, a monitoring system).
    Viewer,
    /// Reads and every write: commands, cards, reservations, limits.
    Operator,
}

impl ApiRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Viewer => "viewer",
            ApiRole::Operator => "operator",
        }
    }
}

/// One `[[http.token]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// Who holds it, for the log and the audit (`"control-room"`).
    pub name: String,
    /// The argon2 PHC string of the token.
    pub token_hash: String,
    pub role: ApiRole,
}

/// `[http]`: the API's listen address, allowed host names and tokens.
pub(super) fn read_http(root: &Table<'_, '_>) -> Option<Http> {
    let Some(t) = root.opt_table("http") else {
        return Some(Http {
            listen: default_http_listen(),
            allowed_hosts: Vec::new(),
            require_token_for_reads: false,
            tokens: Vec::new(),
        });
    };
    let listen = addr(&t, "listen").unwrap_or_else(default_http_listen);
    let allowed_hosts = t.opt_strs("allowed-hosts");
    for (i, name) in allowed_hosts.iter().enumerate() {
        if !is_host_name(name) {
            t.problem(
                "allowed-hosts",
                format!("entry {i}, {name:?}, is not a host name"),
                Some(
                    "a DNS name such as \"depot-gw.local\", without scheme, port or \
                     path; IP addresses and localhost are always allowed"
                        .into(),
                ),
            );
        }
    }
    let require_token_for_reads = t.opt_bool("require-token-for-reads").unwrap_or(false);
    let tokens: Vec<Option<ApiToken>> = t.tables("token").iter().map(read_token).collect();
    t.finish(HTTP_KEYS);
    let tokens: Vec<ApiToken> = tokens.into_iter().collect::<Option<_>>()?;
    let mut names = HashSet::new();
    for token in &tokens {
        if !names.insert(token.name.as_str()) {
            t.problem(
                "token",
                format!("two tokens are named {:?}", token.name),
                Some("give each [[http.token]] its own name".into()),
            );
        }
    }
    if require_token_for_reads && tokens.is_empty() {
        t.problem(
            "require-token-for-reads",
            "reads need a token, but no [[http.token]] is configured",
            Some("add a [[http.token]], or set require-token-for-reads = false".into()),
        );
    }
    Some(Http {
        listen,
        allowed_hosts,
        require_token_for_reads,
        tokens,
    })
}

/// One `[[http.token]]`: name, token-hash and role, all required.
fn read_token(t: &Table<'_, '_>) -> Option<ApiToken> {
    let name = t.req_str("name", "who holds the token, e.g. \"control-room\"");
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 64 || n.chars().any(char::is_control))
    {
        t.problem(
            "name",
            "a token name has 1 to 64 printable characters",
            None,
        );
    }
    let token_hash = t.req_str(
        "token-hash",
        "the token's hash from `chargegate hash-password` (never the token itself)",
    );
    if token_hash.as_ref().is_some_and(|h| !is_argon2_hash(h)) {
        t.problem(
            "token-hash",
            "not a PHC password hash",
            Some(
                "make a long random token (e.g. `openssl rand -hex 32`) and put its hash \
                     from `chargegate hash-password` here"
                    .into(),
            ),
        );
    }
    let role = match t.opt_str("role").as_deref() {
        Some("operator") => Some(ApiRole::Operator),
        Some("viewer") => Some(ApiRole::Viewer),
        Some(other) => {
            t.problem(
                "role",
                format!("{other:?} is not a role"),
                Some("\"operator\" (reads and writes) or \"viewer\" (reads)".into()),
            );
            None
        }
        None => {
            t.problem(
                "role",
                "required key is missing",
                Some("\"operator\" (reads and writes) or \"viewer\" (reads)".into()),
            );
            None
        }
    };
    t.finish(HTTP_TOKEN_KEYS);
    let token_hash = token_hash.filter(|h| is_argon2_hash(h))?;
    Some(ApiToken {
        name: name?,
        token_hash,
        role: role?,
    })
}

/// A DNS name (RFC 1123 labels): what a browser sends as `Host` without the port.
pub(super) fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
