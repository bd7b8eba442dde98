//! chargegate's alerts to the cloud on its own identity, while that link is up: 2.0.1
//! NotifyEvent (N07; one event per raise or clear, `cleared` on a clear), 1.6 DataTransfer
//! (vendorId `chargegate`, messageId `alert`, the alert as JSON text: 1.6 has no event
//! message). An alert is state the cloud can also read over the API; a raise missed while
//! the link was down is not kept.

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use super::LiveCall;
use crate::ocpp::model::OcppVersion;
use crate::store::AlertRecord;

/// NotifyEvent's actualValue is at most 2500 characters (2.0.1 EventDataType).
const ACTUAL_VALUE_CHARS: usize = 2500;

/// Forwards every raise and clear until shutdown.
pub(super) async fn forward(
    mut alerts: broadcast::Receiver<AlertRecord>,
    own: mpsc::Sender<LiveCall>,
    version: OcppVersion,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seq_no: u64 = 0;
    loop {
        let alert = tokio::select! {
            _ = shutdown.changed() => return,
            alert = alerts.recv() => match alert {
                Ok(alert) => alert,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "alerts not forwarded to the cloud CSMS: too many at once");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let (action, payload) = message(version, &alert, seq_no);
        seq_no += 1;
        let call = LiveCall {
            action: action.into(),
            payload,
            answer: None,
        };
        // Link down or busy: the alert stays readable through the API.
        let _ = own.try_send(call);
    }
}

/// The message for one raise or clear.
pub(super) fn message(
    version: OcppVersion,
    alert: &AlertRecord,
    seq_no: u64,
) -> (&'static str, Value) {
    let at = alert.cleared.unwrap_or(alert.raised);
    let stamp = crate::ocpp::time::format(&at);
    match version {
        OcppVersion::V16 => {
            let data = json!({
                "id": alert.id,
                "kind": alert.kind,
                "severity": alert.severity,
                "charger": alert.charger,
                "meter": alert.meter,
                "part": alert.part,
                "message": alert.message,
                "raised": crate::ocpp::time::format(&alert.raised),
                "cleared": alert.cleared.as_ref().map(crate::ocpp::time::format),
            });
            (
                "DataTransfer",
                json!({"vendorId": "chargegate", "messageId": "alert", "data": data.to_string()}),
            )
        }
        OcppVersion::V201 => {
            let actual: String = alert.message.chars().take(ACTUAL_VALUE_CHARS).collect();
            let mut event = json!({
                "eventId": alert.id,
                "timestamp": stamp,
                "trigger": "Alerting",
                "actualValue": actual,
                "techCode": alert.kind.chars().take(50).collect::<String>(),
                "cleared": alert.cleared.is_some(),
                "eventNotificationType": "CustomMonitor",
                "component": {"name": "chargegate"},
                "variable": {"name": "Problem"},
            });
            if let Some(charger) = &alert.charger {
                event["component"]["instance"] =
                    json!(charger.chars().take(50).collect::<String>());
            }
            (
                "NotifyEvent",
                json!({
                    "generatedAt": stamp,
                    "seqNo": seq_no,
                    "tbc": false,
                    "eventData": [event],
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(cleared: bool) -> AlertRecord {
        let raised = crate::ocpp::time::parse("2026-12-01T10:00:00Z").unwrap();
        AlertRecord {
            id: 4,
            kind: "meter-stale".into(),
            charger: Some("CS-1".into()),
            meter: None,
            part: None,
            severity: "critical".into(),
            raised,
            cleared: cleared.then(|| raised + chrono::Duration::minutes(5)),
            message: "grid meter silent".into(),
        }
    }

    #[test]
    fn a_201_alert_is_a_notify_event_and_its_clear_says_cleared() {
        let (action, raise) = message(OcppVersion::V201, &alert(false), 0);
        assert_eq!(action, "NotifyEvent");
        let event = &raise["eventData"][0];
        assert_eq!(event["cleared"], false);
        assert_eq!(event["techCode"], "meter-stale");
        assert_eq!(event["component"]["instance"], "CS-1");
        let (_, clear) = message(OcppVersion::V201, &alert(true), 1);
        assert_eq!(clear["eventData"][0]["cleared"], true);
        assert_eq!(
            clear["eventData"][0]["timestamp"],
            "2026-12-01T10:05:00.000Z"
        );
        assert_eq!(clear["seqNo"], 1);
    }

    #[test]
    fn a_16_alert_is_a_data_transfer_with_the_alert_as_text() {
        let (action, payload) = message(OcppVersion::V16, &alert(false), 0);
        assert_eq!(action, "DataTransfer");
        assert_eq!(payload["messageId"], "alert");
        let data: Value = serde_json::from_str(payload["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["kind"], "meter-stale");
        assert_eq!(data["cleared"], Value::Null);
    }
}
