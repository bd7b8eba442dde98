//! Who may use the API (DESIGN.md "HTTP"): every write needs `Authorization: Bearer
//! <token>` of an `[[http.token]]` with role `operator`; reads are open unless `[http]
//! require-token-for-reads`, then a token of either role opens them.
//!
//! Tokens are stored as argon2 hashes, and argon2 costs ~25 ms and 19 MiB per check on a
//! Pi, so: a token that passed once is remembered as a keyed BLAKE2b digest (of the token
//! and the hash it matched, so a reload that changes the hash forgets it), checks run on
//! the blocking pool one at a time, and an address that sent wrong tokens backs off like a
//! charger with a wrong password (`charger::gate::Backoff`): during its backoff its
//! unknown tokens are refused unchecked. A client guessing tokens therefore costs at most
//! one core-share of argon2, never the chargers' runtime.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use blake2::{Blake2b, Digest, digest::consts::U32};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::listener::LimitedListener;
use super::{HttpState, error};
use crate::charger::gate::Backoff;
use crate::config::{ApiRole, ApiToken};

/// A bearer token longer than this is refused unchecked (a 32-byte random token in hex is
/// 64 characters).
const MAX_TOKEN_LEN: usize = 512;
/// Tokens remembered as verified; the memory is cleared when full (a few clients use it).
const MAX_VERIFIED: usize = 256;
/// Addresses whose wrong tokens are counted.
const MAX_TRACKED_ADDRESSES: usize = 1024;
/// How long a request waits for the one argon2 check slot before a 503.
const CHECK_WAIT: Duration = Duration::from_secs(5);

/// The peer of an API connection, for the per-address backoff.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// The holder of the token a request came with (handlers name it in the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    pub role: ApiRole,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// No configured token has this value.
    Unknown,
    /// The address is backing off after wrong tokens; not checked.
    BackingOff,
    /// The check slot stayed busy.
    Busy,
}

/// The verified-token memory, the argon2 slot and the per-address backoff.
#[derive(Debug)]
pub struct Gatekeeper {
    verified: Mutex<HashMap<[u8; 32], ()>>,
    argon2: Semaphore,
    failures: Mutex<Backoff<IpAddr>>,
    /// The digest's per-process random key: the memory never holds a token.
    key: [u8; 32],
}

impl Default for Gatekeeper {
    fn default() -> Self {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self {
            verified: Mutex::new(HashMap::new()),
            argon2: Semaphore::new(1),
            failures: Mutex::new(Backoff::new(MAX_TRACKED_ADDRESSES)),
            key,
        }
    }
}

impl Gatekeeper {
    fn digest(&self, token_hash: &str, token: &str) -> [u8; 32] {
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(self.key);
        hasher.update(token_hash.as_bytes());
        hasher.update([0]);
        hasher.update(token.as_bytes());
        hasher.finalize().into()
    }

    /// The configured token whose value `token` is.
    async fn identify(
        &self,
        tokens: &[ApiToken],
        token: &str,
        ip: IpAddr,
    ) -> Result<Holder, Refused> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || tokens.is_empty() {
            return Err(Refused::Unknown);
        }
        let digests: Vec<[u8; 32]> = tokens
            .iter()
            .map(|t| self.digest(&t.token_hash, token))
            .collect();
        {
            let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            // Every entry is compared, in constant time, whichever matches.
            let mut found = None;
            for (i, digest) in digests.iter().enumerate() {
                let known = verified
                    .keys()
                    .fold(0u8, |hit, k| hit | k.ct_eq(digest).unwrap_u8());
                if known == 1 && found.is_none() {
                    found = Some(i);
                }
            }
            if let Some(i) = found {
                return Ok(holder(&tokens[i]));
            }
        }
        if self.backoff().backing_off(&ip, Instant::now()) {
            return Err(Refused::BackingOff);
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(CHECK_WAIT, self.argon2.acquire()).await else {
            return Err(Refused::Busy);
        };
        let hashes: Vec<String> = tokens.iter().map(|t| t.token_hash.clone()).collect();
        let candidate = token.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            hashes.iter().position(|h| argon2_matches(h, &candidate))
        })
        .await
        .unwrap_or(None);
        match matched {
            Some(i) => {
                self.backoff().succeed(&ip);
                let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
                if verified.len() >= MAX_VERIFIED {
                    verified.clear();
                }
                verified.insert(digests[i], ());
                Ok(holder(&tokens[i]))
            }
            None => {
                if let Some(backoff) = self.backoff().fail(&ip, Instant::now()) {
                    tracing::warn!(
                        %ip,
                        "wrong API tokens from {ip}: its tokens are not checked for {} s",
                        backoff.as_secs()
                    );
                }
                Err(Refused::Unknown)
            }
        }
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff<IpAddr>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn holder(token: &ApiToken) -> Holder {
    Holder {
        name: token.name.clone(),
        role: token.role,
    }
}

fn argon2_matches(phc: &str, token: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(token.as_bytes(), &parsed)
        .is_ok()
}

/// The role a request needs: writes an operator's, reads a viewer's when reads are closed.
fn needed_role(method: &Method, path: &str, reads_closed: bool) -> Option<ApiRole> {
    // What a charger holds about a customer (2.0.1 N09/N10 NotifyCustomerInformation) is
    // personal data: only an operator reads it, whatever `require-token-for-reads` says.
    if path.contains("/customer-information") {
        return Some(ApiRole::Operator);
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS if reads_closed => Some(ApiRole::Viewer),
        Method::GET | Method::HEAD | Method::OPTIONS => None,
        _ => Some(ApiRole::Operator),
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
/// case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware on every route: lets a request through when its token's role suffices, and
/// puts the `Holder` into its extensions.
pub async fn check(State(state): State<HttpState>, mut request: Request, next: Next) -> Response {
    // A call from inside the daemon (`internal.rs`) is an operator by construction.
    if let Some(super::internal::InternalCaller(holder)) = request.extensions().get().cloned() {
        request.extensions_mut().insert(holder);
        return next.run(request).await;
    }
    let config = state.live.current();
    let needed = needed_role(
        request.method(),
        request.uri().path(),
        config.http.require_token_for_reads,
    );
    let Some(needed) = needed else {
        return next.run(request).await;
    };
    let what = match needed {
        ApiRole::Operator => "an operator token",
        ApiRole::Viewer => "a token",
    };
    let Some(token) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(bearer)
    else {
        return challenge(format!(
            "this needs {what}: send `Authorization: Bearer <token>` ([[http.token]] in the site file)"
        ));
    };
    let ip = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.0.ip());
    match state
        .gatekeeper
        .identify(&config.http.tokens, token, ip)
        .await
    {
        Ok(holder) if holder.role >= needed => {
            request.extensions_mut().insert(holder);
            next.run(request).await
        }
        Ok(holder) => error(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} has the role {}; this needs {what}",
                holder.name,
                holder.role.as_str()
            ),
        ),
        Err(Refused::Unknown) => challenge("unknown token".to_string()),
        Err(Refused::BackingOff) => challenge(
            "unknown token (wrong tokens from this address: tokens are not checked for a while)"
                .to_string(),
        ),
        Err(Refused::Busy) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy checking tokens, try again",
        ),
    }
}

/// A 401 with the challenge RFC 6750 §3 asks for.
fn challenge(message: String) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"chargegate\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, value: &str, role: ApiRole) -> ApiToken {
        ApiToken {
            name: name.into(),
            token_hash: crate::charger::handshake::hash_password(value).unwrap(),
            role,
        }
    }

    #[test]
    fn writes_need_an_operator_and_reads_only_when_closed() {
        let site = "/api/v1/site";
        assert_eq!(needed_role(&Method::GET, site, false), None);
        assert_eq!(needed_role(&Method::GET, site, true), Some(ApiRole::Viewer));
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(needed_role(&m, site, false), Some(ApiRole::Operator));
            assert_eq!(needed_role(&m, site, true), Some(ApiRole::Operator));
        }
        // Customer data is an operator's to read, open reads or not.
        let customer = "/api/v1/chargers/CS-1/customer-information/7";
        for closed in [false, true] {
            assert_eq!(
                needed_role(&Method::GET, customer, closed),
                Some(ApiRole::Operator)
            );
        }
        assert!(ApiRole::Operator > ApiRole::Viewer);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_nothing_else_passes() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer(&v("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&v("bearer abc")), Some("abc"));
        assert_eq!(bearer(&v("Basic YWJj")), None);
        assert_eq!(bearer(&v("Bearer ")), None);
        assert_eq!(bearer(&v("Bearerabc")), None);
    }

    #[tokio::test]
    async fn a_token_is_known_by_its_hash_and_remembered_only_for_that_hash() {
        let keeper = Gatekeeper::default();
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let tokens = vec![
            token("screen", "viewer-secret-1", ApiRole::Viewer),
            token("control-room", "operator-secret-1", ApiRole::Operator),
        ];
        let who = keeper
            .identify(&tokens, "operator-secret-1", ip)
            .await
            .unwrap();
        assert_eq!(who.name, "control-room");
        assert_eq!(who.role, ApiRole::Operator);
        // Remembered: answered again without argon2 (the slot is taken, so a check would
        // wait and fail with Busy).
        let _held = keeper.argon2.acquire().await.unwrap();
        let again = keeper.identify(&tokens, "operator-secret-1", ip).await;
        assert_eq!(again.map(|h| h.name), Ok("control-room".into()));
        drop(_held);
        // A reload that gives the name a new hash: the old value no longer opens it.
        let rotated = vec![token(
            "control-room",
            "operator-secret-2",
            ApiRole::Operator,
        )];
        assert_eq!(
            keeper.identify(&rotated, "operator-secret-1", ip).await,
            Err(Refused::Unknown)
        );
        assert_eq!(
            keeper
                .identify(&rotated, "operator-secret-2", ip)
                .await
                .map(|h| h.name),
            Ok("control-room".into())
        );
    }

    #[tokio::test]
    async fn an_address_guessing_tokens_backs_off_but_others_do_not() {
        let keeper = Gatekeeper::default();
        let tokens = vec![token(
            "control-room",
            "operator-secret-1",
            ApiRole::Operator,
        )];
        let guesser = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
        let operator = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let mut refusals = Vec::new();
        for i in 0..8 {
            refusals.push(
                keeper
                    .identify(&tokens, &format!("guess-{i}"), guesser)
                    .await,
            );
        }
        assert!(refusals.iter().all(Result::is_err));
        assert_eq!(refusals.last(), Some(&Err(Refused::BackingOff)));
        // While backing off, even the right token is not checked from that address...
        assert_eq!(
            keeper.identify(&tokens, "operator-secret-1", guesser).await,
            Err(Refused::BackingOff)
        );
        // ...but the operator elsewhere gets in.
        assert!(
            keeper
                .identify(&tokens, "operator-secret-1", operator)
                .await
                .is_ok()
        );
        assert_eq!(
            keeper
                .identify(&tokens, &"x".repeat(MAX_TOKEN_LEN + 1), operator)
                .await,
            Err(Refused::Unknown)
        );
    }
}
