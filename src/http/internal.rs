//! The API called from inside the daemon: an upstream command (`src/upstream`) is
//! answered by the same handlers as the HTTP request it stands for, with the same checks,
//! errors and audit entries, so the two ways in can never disagree.
//!
//! The caller is marked by a request extension, which no request from the network can
//! carry (hyper builds those with only the peer address), and counts as an operator
//! named after the caller.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::auth::Holder;
use crate::config::ApiRole;

/// The largest answer an internal call reads (a transaction with every signed value).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// A request from inside the daemon, on behalf of `Holder` (an operator).
#[derive(Debug, Clone)]
pub(super) struct InternalCaller(pub Holder);

/// The API's router, to call in-process. Cheap to clone.
#[derive(Clone)]
pub struct Internal {
    router: Router,
}

impl std::fmt::Debug for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Internal(router)")
    }
}

impl Internal {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// `method path` with `body` as JSON, as the operator `caller`; the status and the
    /// JSON answer (`null` for an empty or non-JSON one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        caller: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut request = match request.body(body) {
            Ok(r) => r,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "error": format!("not a request path: {e}") }),
                );
            }
        };
        request.extensions_mut().insert(InternalCaller(Holder {
            name: caller.to_string(),
            role: ApiRole::Operator,
        }));
        // The router's error type is Infallible.
        let Ok(response) = self.router.clone().oneshot(request).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }
}
