//! How a simulated 2.0.1 station answers CustomerInformation (N09/N10): what it keeps
//! about a customer is a text per customer key (the id token, the customer identifier, or
//! the certificate's serial number), reported in NotifyCustomerInformation parts of at
//! most `PART_CHARS` characters (seqNo from 0, `tbc` on all but the last) and removed on
//! `clear`. A request that names no customer is Invalid (N09.FR.09).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::answers::{Answer, ChargerState};
use super::messages::timestamp;

/// Characters per NotifyCustomerInformation part (the schema allows 512): small, so
/// that a few lines of data come in several parts.
pub const PART_CHARS: usize = 64;

/// The key the request names the customer by, if exactly one.
fn customer_key(payload: &Value) -> Option<String> {
    let keys: Vec<String> = [
        payload["idToken"]["idToken"].as_str().map(str::to_string),
        payload["customerIdentifier"].as_str().map(str::to_string),
        payload["customerCertificate"]["serialNumber"]
            .as_str()
            .map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .collect();
    match keys.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

pub(super) fn customer_information(
    accept: bool,
    payload: &Value,
    state: &mut ChargerState,
    now: &DateTime<Utc>,
) -> Answer {
    if !accept {
        return Answer::Result {
            payload: json!({"status": "Rejected"}),
            follow_ups: Vec::new(),
        };
    }
    let Some(key) = customer_key(payload) else {
        return Answer::Result {
            payload: json!({"status": "Invalid"}),
            follow_ups: Vec::new(),
        };
    };
    let report = payload["report"].as_bool().unwrap_or(false);
    let clear = payload["clear"].as_bool().unwrap_or(false);
    let data = state.customer_data.get(&key).cloned().unwrap_or_default();
    if clear {
        state.customer_data.remove(&key);
    }
    let mut follow_ups = Vec::new();
    if report {
        let chars: Vec<char> = data.chars().collect();
        let mut parts: Vec<String> = chars
            .chunks(PART_CHARS)
            .map(|c| c.iter().collect())
            .collect();
        if parts.is_empty() {
            // No data: one empty part (TC_N_28, "Accepted + no data").
            parts.push(String::new());
        }
        let last = parts.len() - 1;
        for (seq, part) in parts.into_iter().enumerate() {
            follow_ups.push((
                "NotifyCustomerInformation".to_string(),
                json!({
                    "data": part,
                    "tbc": seq != last,
                    "seqNo": seq,
                    "generatedAt": timestamp(now),
                    "requestId": payload["requestId"],
                }),
            ));
        }
    }
    Answer::Result {
        payload: json!({"status": "Accepted"}),
        follow_ups,
    }
}
