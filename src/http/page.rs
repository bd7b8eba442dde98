//! `GET /`: the status page (issue 11, DESIGN.md "HTTP"), one self-contained HTML document
//! (`status_page.html`: inline CSS and JavaScript, no build step) compiled into the binary.
//!
//! It holds no data: the browser reads `/api/v1/site`, `/chargers`, `/meters`, `/plan`,
//! `/alerts` and follows `/api/v1/events`, sending the token the operator entered once
//! (kept in the tab's sessionStorage) as the API's bearer token. So the page itself is
//! served without a token, also with `require-token-for-reads`: the reads it makes are
//! what the token guards. Depot LANs have no internet, and a page that shows a site's
//! state must not leak it: the Content-Security-Policy lets it load and connect to
//! nothing but its own origin (inline script and style are the page itself).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page, as `cargo build` read it.
pub const STATUS_PAGE: &str = include_str!("status_page.html");

/// Nothing from anywhere but this gateway: no script, style, font, image, frame or
/// connection elsewhere; no form posts; not framed by another site (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `GET /`.
pub async fn status_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // A new binary brings a new page: never keep an old one.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STATUS_PAGE,
    )
        .into_response()
}
