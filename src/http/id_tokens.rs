//! `/api/v1/id-tokens`: the local authorization list at run time (DESIGN.md "HTTP").
//!
//! A change is in the store when the answer comes, so the next Authorize, StartTransaction
//! or TransactionEvent already sees it. Cards from the site file are shown but not
//! changed here (409): the file wins at every start and reload, so a change through the
//! API would be undone without a word.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, HttpState, error};
use crate::store::{self, TokenEntry, TokenRecord, TokenWrite};

/// Cards one page holds by default and at most.
const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;
/// 2.0.1 IdToken.idToken: identifierString, at most 36 characters. A 1.6 charger takes
/// 20 (CiString20): a longer card works through Authorize but not in its local list.
pub(super) const MAX_ID: usize = 36;

/// 2.0.1 identifierString (part 2, 2.1.7): letters, digits and `*-_=:+|@.`.
pub(super) fn is_identifier(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*-_=:+|@.".contains(&b))
}

fn entry_json(e: &TokenEntry) -> Value {
    json!({
        "id": e.record.id,
        "status": e.record.status,
        "expires": e.record.expires.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "group": e.record.group,
        "type": e.token_type,
        "source": e.source,
    })
}

/// `GET /api/v1/id-tokens?after=ID&limit=N`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<HttpState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let query = match super::query(query, "after, limit") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIMIT}"),
        );
    }
    let after = query.after;
    let page = state
        .read_store(move |c| {
            Ok((
                store::token_entries(c, after.as_deref(), limit)?,
                store::local_list_version(c)?,
            ))
        })
        .await;
    match page {
        Ok((entries, version)) => Json(json!({
            "local_list_version": version,
            "id_tokens": entries.iter().map(entry_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

fn card_id(raw: String) -> Result<String, ApiError> {
    if is_identifier(&raw) {
        Ok(raw)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("id: 1 to {MAX_ID} letters, digits or *-_=:+|@. (an OCPP identifierString)"),
        ))
    }
}

pub async fn get_one(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    let id = match card_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let lookup = id.clone();
    match state
        .read_store(move |c| store::token_entry(c, &lookup))
        .await
    {
        Ok(Some(e)) => Json(entry_json(&e)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no id token {id}")),
        Err(e) => e.into_response(),
    }
}

/// `PUT /api/v1/id-tokens/<id>` `{"status", "expires", "group", "type"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    status: CardStatus,
    #[serde(default)]
    expires: Option<DateTime<Utc>>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CardStatus {
    Accepted,
    Blocked,
}

pub async fn put(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    card: Result<Json<Card>, JsonRejection>,
) -> Response {
    match put_card(&state, id, card).await {
        Ok(response) | Err(response) => response,
    }
}

async fn put_card(
    state: &HttpState,
    id: String,
    card: Result<Json<Card>, JsonRejection>,
) -> Result<Response, Response> {
    let id = card_id(id).map_err(IntoResponse::into_response)?;
    let Json(card) = card.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    if card
        .group
        .as_ref()
        .is_some_and(|g| !is_identifier(g) || *g == id)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "group: another card's id (an OCPP identifierString), not the card itself",
        ));
    }
    if let Some(t) = card
        .token_type
        .as_ref()
        .filter(|t| !super::commands::ID_TOKEN_TYPES.contains(&t.as_str()))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "type: {t:?} is not one of {}",
                super::commands::ID_TOKEN_TYPES.join(", ")
            ),
        ));
    }
    let record = TokenRecord {
        id: id.clone(),
        status: match card.status {
            CardStatus::Accepted => "accepted".into(),
            CardStatus::Blocked => "blocked".into(),
        },
        expires: card.expires,
        group: card.group,
    };
    let token_type = card.token_type;
    let written = state
        .read_store(move |c| {
            let outcome = store::put_api_token(c, &record, token_type.as_deref())?;
            Ok((outcome, store::token_entry(c, &record.id)?))
        })
        .await
        .map_err(IntoResponse::into_response)?;
    match written {
        (TokenWrite::FromConfig, _) => Err(from_config(&id)),
        (outcome, Some(entry)) => {
            tracing::info!(id_token = %id, status = %entry.record.status, "id token written through the API");
            let status = if outcome == TokenWrite::Created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(entry_json(&entry))).into_response())
        }
        (_, None) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the card was written but cannot be read back",
        )),
    }
}

fn from_config(id: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        format!(
            "id token {id} is in the site file ([[id-token]]); change it there and reload \
             (the file wins at every start)"
        ),
    )
}

pub async fn delete(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    let id = match card_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let target = id.clone();
    match state
        .read_store(move |c| store::delete_api_token(c, &target))
        .await
    {
        Ok(TokenWrite::Deleted) => {
            tracing::info!(id_token = %id, "id token deleted through the API");
            Json(json!({"deleted": id})).into_response()
        }
        Ok(TokenWrite::FromConfig) => from_config(&id),
        Ok(_) => error(StatusCode::NOT_FOUND, format!("no id token {id}")),
        Err(e) => e.into_response(),
    }
}
