//! `GET /api/v1/transactions` and `GET /api/v1/transactions/<id>`: the billing records,
//! as JSON or as CSV (RFC 4180) for a billing backend or a spreadsheet.
//!
//! Parses the query strictly (an unknown parameter or a bad value is a 400 naming it),
//! reads the store through the shared `store_readers` permits, prices each session under
//! the tariff in force (`[planner]`, followed across reloads) and never decides anything.
//! Signed meter values go out verbatim in JSON; in CSV the start and stop ones are in
//! columns (see `CSV_HEADER`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{HttpState, error};
use crate::config::Planner;
use crate::store::{self, BillingFilter, BillingRecord, SignedRecord, StoreError};
use crate::units::ChargerId;

const KNOWN: &str = "charger, id-token, from, to, after, limit, format";
/// The longest id token either version carries (2.0.1 IdTokenType.idToken: 36).
const MAX_TOKEN_LEN: usize = 36;

/// `GET /api/v1/transactions?charger=CP-01&id-token=CARD&from=...&to=...&after=41&limit=100`
/// Every value is taken as text and checked here, so that each error names its field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    charger: Option<String>,
    #[serde(rename = "id-token")]
    id_token: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

/// A signed meter value on the wire, as the charger sent it.
#[derive(Debug, Serialize)]
pub struct SignedEntry {
    at: String,
    measurand: String,
    context: Option<String>,
    phase: Option<String>,
    /// 2.0.1: the plain value beside the signature (unit as sent); 1.6: none.
    value: Option<f64>,
    signed_meter_data: String,
    signing_method: Option<String>,
    encoding_method: Option<String>,
    public_key: Option<String>,
}

impl From<&SignedRecord> for SignedEntry {
    fn from(r: &SignedRecord) -> Self {
        Self {
            at: r.ts.clone(),
            measurand: r.measurand.clone(),
            context: r.context.clone(),
            phase: r.phase.clone(),
            value: r.value,
            signed_meter_data: r.data.clone(),
            signing_method: r.signing_method.clone(),
            encoding_method: r.encoding_method.clone(),
            public_key: r.public_key.clone(),
        }
    }
}

/// One billing record on the wire.
#[derive(Debug, Serialize)]
pub struct TransactionEntry {
    id: i64,
    charger: String,
    evse: Option<u32>,
    connector: Option<u32>,
    /// The id the charger knows the transaction by (1.6: chargegate's integer).
    ocpp_transaction_id: Option<String>,
    id_token: Option<String>,
    id_token_group: Option<String>,
    start: Option<String>,
    stop: Option<String>,
    meter_start_wh: Option<f64>,
    meter_stop_wh: Option<f64>,
    energy_wh: Option<f64>,
    stop_reason: Option<String>,
    /// `charger`, or chargegate on the charger's `boot`, a `new-transaction` or its
    /// answer `not-ongoing` to GetTransactionStatus.
    closed_by: Option<String>,
    status: String,
    /// In the currency of `[planner]` prices, rounded to 1/10000.
    cost: Option<f64>,
    signed_start: Option<SignedEntry>,
    signed_stop: Option<SignedEntry>,
    /// Every signed value of the session (`/transactions/<id>` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_meter_values: Option<Vec<SignedEntry>>,
}

impl TransactionEntry {
    fn new(r: &BillingRecord, all_signed: bool) -> Self {
        let (start, stop) = signed_ends(&r.signed);
        Self {
            id: r.id,
            charger: r.charger_id.clone(),
            evse: r.evse_id,
            connector: r.connector_id,
            ocpp_transaction_id: r.ocpp_tx_id.clone(),
            id_token: r.id_token.clone(),
            id_token_group: r.id_token_group.clone(),
            start: r.started_at.clone(),
            stop: r.stopped_at.clone(),
            meter_start_wh: r.meter_start_wh,
            meter_stop_wh: r.meter_stop_wh,
            energy_wh: r.energy_wh,
            stop_reason: r.stop_reason.clone(),
            closed_by: r.closed_by.clone(),
            status: r.status.clone(),
            cost: r.cost.map(round_cost),
            signed_start: start.map(SignedEntry::from),
            signed_stop: stop.map(SignedEntry::from),
            signed_meter_values: all_signed
                .then(|| r.signed.iter().map(SignedEntry::from).collect()),
        }
    }
}

/// One billing record as `/api/v1/transactions/<id>` answers it, every signed value
/// included (the upstream's transaction events carry the same).
pub fn transaction_json(r: &BillingRecord) -> Value {
    serde_json::to_value(TransactionEntry::new(r, true)).unwrap_or(Value::Null)
}

#[derive(Debug, Serialize)]
pub struct TransactionsPage {
    transactions: Vec<TransactionEntry>,
    /// Pass as `after` for the next page; `null` when this page was the last.
    next_after: Option<i64>,
}

/// The session's signed start and stop values: those of context `Transaction.Begin` and
/// `Transaction.End`, else the oldest and the newest (the stop only when there are two).
pub fn signed_ends(signed: &[SignedRecord]) -> (Option<&SignedRecord>, Option<&SignedRecord>) {
    let start = signed
        .iter()
        .find(|s| s.context.as_deref() == Some("Transaction.Begin"))
        .or(signed.first());
    let stop = signed
        .iter()
        .rev()
        .find(|s| s.context.as_deref() == Some("Transaction.End"))
        .or(signed.last().filter(|_| signed.len() > 1));
    (start, stop)
}

fn round_cost(cost: f64) -> f64 {
    (cost * 10_000.0).round() / 10_000.0
}

/// The billing records in the order the transactions began, filtered; JSON, or CSV with
/// `Accept: text/csv` or `format=csv`. A full page names the next in `next_after` and in
/// a `Link: <...>; rel="next"` header (RFC 8288), so a month's export is a few requests.
pub async fn list(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    query: Result<Query<TransactionsQuery>, QueryRejection>,
) -> Response {
    let query = match super::query(query, KNOWN) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let (filter, csv) = match parse(query, &headers) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let limit = filter.limit;
    let planner = planner(&state);
    let records = match read(&state, move |c| {
        store::billing_records(c, &filter, planner.as_ref())
    })
    .await
    {
        Ok(records) => records,
        Err(response) => return response,
    };
    let next_after = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let mut response = if csv {
        csv_response(&records)
    } else {
        Json(TransactionsPage {
            transactions: records
                .iter()
                .map(|r| TransactionEntry::new(r, false))
                .collect(),
            next_after,
        })
        .into_response()
    };
    if let Some(after) = next_after {
        let link = next_link(raw.as_deref().unwrap_or(""), after);
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// One billing record with every signed meter value of the session.
pub async fn one(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "id: a transaction id is the integer `id` of /api/v1/transactions",
        );
    };
    let planner = planner(&state);
    match read(&state, move |c| {
        store::billing_record(c, id, planner.as_ref())
    })
    .await
    {
        Ok(Some(record)) => Json(TransactionEntry::new(&record, true)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no transaction {id}")),
        Err(response) => response,
    }
}

/// The tariff in force (a reload may have changed it).
fn planner(state: &HttpState) -> Option<Planner> {
    Some(state.live.current().planner.clone())
}

/// Runs a store read under one of the API's reader permits (503 when busy or failed).
async fn read<T, F>(state: &HttpState, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
{
    state
        .read_store(f)
        .await
        .map_err(IntoResponse::into_response)
}

/// The filter and whether CSV was asked for, or the message naming the bad field.
fn parse(q: TransactionsQuery, headers: &HeaderMap) -> Result<(BillingFilter, bool), String> {
    let charger = q
        .charger
        .map(|c| {
            ChargerId::new(c)
                .map(|c| c.as_str().to_string())
                .map_err(|_| format!("charger: not a charger id ({})", ChargerId::rule()))
        })
        .transpose()?;
    let id_token = q.id_token;
    if id_token
        .as_deref()
        .is_some_and(|t| t.is_empty() || t.len() > MAX_TOKEN_LEN || t.chars().any(char::is_control))
    {
        return Err(format!(
            "id-token: 1 to {MAX_TOKEN_LEN} characters, as the card or app sends it"
        ));
    }
    let time = |field: &str, text: Option<String>| -> Result<Option<DateTime<Utc>>, String> {
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.to_utc())
                .map_err(|_| format!("{field}: an RFC 3339 time such as 2026-11-01T00:00:00Z"))
        })
        .transpose()
    };
    let from = time("from", q.from)?;
    let to = time("to", q.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err("to: must be later than from".into());
    }
    let after = q
        .after
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| "after: the id of the last record of the page before".to_string())
        })
        .transpose()?;
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err("format: csv or json".into()),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let limit = match q.limit {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l)),
        None => Some(if csv { MAX_LIMIT } else { DEFAULT_LIMIT }),
    }
    .ok_or_else(|| format!("limit: from 1 to {MAX_LIMIT}"))?;
    Ok((
        BillingFilter {
            charger,
            id_token,
            from,
            to,
            after,
            limit,
        },
        csv,
    ))
}

/// The request's own query with `after` set to the next page's cursor.
fn next_link(raw: &str, after: i64) -> String {
    let mut pairs: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("after="))
        .collect();
    let cursor = format!("after={after}");
    pairs.push(&cursor);
    format!("</api/v1/transactions?{}>; rel=\"next\"", pairs.join("&"))
}

/// The CSV columns. `signed_start` / `signed_stop` hold the signed meter data of the
/// session's start and stop values (`signed_ends`) as sent, `signing_method`,
/// `encoding_method` and `public_key` those of the stop value (else the start's); every
/// signed value is in the JSON of `/api/v1/transactions/<id>`.
pub const CSV_HEADER: [&str; 21] = [
    "id",
    "charger",
    "evse",
    "connector",
    "ocpp_transaction_id",
    "id_token",
    "id_token_group",
    "start",
    "stop",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "closed_by",
    "status",
    "cost",
    "signed_start",
    "signed_stop",
    "signing_method",
    "encoding_method",
    "public_key",
];

fn csv_response(records: &[BillingRecord]) -> Response {
    let mut body = String::new();
    csv_row(&mut body, CSV_HEADER.iter().map(|h| Cell::Text(h)));
    for r in records {
        let (start, stop) = signed_ends(&r.signed);
        let keyed = stop.or(start);
        let number = |v: Option<f64>| v.map_or(Cell::Empty, Cell::Number);
        fn text(v: Option<&str>) -> Cell<'_> {
            v.map_or(Cell::Empty, Cell::Text)
        }
        let int = |v: Option<u32>| v.map_or(Cell::Empty, |v| Cell::Number(f64::from(v)));
        let id = r.id as f64;
        csv_row(
            &mut body,
            [
                Cell::Number(id),
                Cell::Text(&r.charger_id),
                int(r.evse_id),
                int(r.connector_id),
                text(r.ocpp_tx_id.as_deref()),
                text(r.id_token.as_deref()),
                text(r.id_token_group.as_deref()),
                text(r.started_at.as_deref()),
                text(r.stopped_at.as_deref()),
                number(r.meter_start_wh),
                number(r.meter_stop_wh),
                number(r.energy_wh),
                text(r.stop_reason.as_deref()),
                text(r.closed_by.as_deref()),
                Cell::Text(&r.status),
                number(r.cost.map(round_cost)),
                text(start.map(|s| s.data.as_str())),
                text(stop.map(|s| s.data.as_str())),
                text(keyed.and_then(|s| s.signing_method.as_deref())),
                text(keyed.and_then(|s| s.encoding_method.as_deref())),
                text(keyed.and_then(|s| s.public_key.as_deref())),
            ],
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"chargegate-transactions.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// One CSV field.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Empty,
    Number(f64),
    Text(&'a str),
}

/// Appends one CSV record (RFC 4180: comma-separated, CRLF-terminated).
pub fn csv_row<'a>(out: &mut String, cells: impl IntoIterator<Item = Cell<'a>>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Empty => {}
            Cell::Number(v) => out.push_str(&v.to_string()),
            Cell::Text(t) => push_text(out, t),
        }
    }
    out.push_str("\r\n");
}

/// A text field, escaped. RFC 4180 §2: a field holding a comma, a double quote or a line
/// break is quoted and its quotes doubled. CSV (formula) injection, as OWASP's "CSV
/// Injection" page advises: a text that a spreadsheet would run as a formula (it begins
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'` and is quoted,
/// because id tokens, charger ids and signed data come from devices on the LAN and the
/// file is opened in spreadsheets. Numbers are written by us and never prefixed. The JSON
/// has every text verbatim.
fn push_text(out: &mut String, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || text.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests;
