//! The payloads a simulated charger sends, per OCPP version, written with `json!` and
//! deliberately independent of chargegate's own message types so that tests do not check
//! our types against themselves.
//!
//! Every builder is a pure function of its arguments (the caller passes timestamps), so
//! the shapes can be checked against the official schemas without a connection.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::ocpp::model::OcppVersion;

/// The vendor every simulated charger reports in BootNotification.
pub const SIM_VENDOR: &str = "chargegate-sim";
/// The model every simulated charger reports in BootNotification.
pub const SIM_MODEL: &str = "SimCP";
/// The firmware version every simulated charger reports.
pub const SIM_FIRMWARE: &str = "sim-1.0";

/// An OCPP date-time: UTC, milliseconds, `Z`.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A 1.6 sampled value is a string; write whole numbers without a fraction.
pub(super) fn value_string(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn truncated(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// BootNotification: 1.6 `BootNotification.req`, 2.0.1 `BootNotificationRequest` with
/// `reason` (`PowerUp` at start, `Triggered` when the CSMS asked for it).
pub fn boot_notification(version: OcppVersion, serial: &str, reason: &str) -> Value {
    match version {
        OcppVersion::V16 => json!({
            "chargePointVendor": SIM_VENDOR,
            "chargePointModel": SIM_MODEL,
            "chargePointSerialNumber": truncated(serial, 25),
            "firmwareVersion": SIM_FIRMWARE,
        }),
        OcppVersion::V201 => json!({
            "reason": reason,
            "chargingStation": {
                "model": SIM_MODEL,
                "vendorName": SIM_VENDOR,
                "serialNumber": truncated(serial, 25),
                "firmwareVersion": SIM_FIRMWARE,
            },
        }),
    }
}

/// The 2.0.1 ConnectorStatusEnumType for a status given in either version's words: the
/// 1.6-only states of an occupied connector (`Preparing`, `Charging`, `SuspendedEV`,
/// `SuspendedEVSE`, `Finishing`) become `Occupied`; anything else passes unchanged.
pub fn status_v201(status: &str) -> &str {
    match status {
        "Preparing" | "Charging" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" => "Occupied",
        other => other,
    }
}

/// StatusNotification for connector `evse` (1.6 connectorId) or EVSE `evse`, connector 1
/// (2.0.1). A 1.6 `Faulted` status carries errorCode `OtherError`, anything else `NoError`.
pub fn status_notification(
    version: OcppVersion,
    evse: u32,
    status: &str,
    now: &DateTime<Utc>,
) -> Value {
    match version {
        OcppVersion::V16 => json!({
            "connectorId": evse,
            "errorCode": if status == "Faulted" { "OtherError" } else { "NoError" },
            "status": status,
            "timestamp": timestamp(now),
        }),
        OcppVersion::V201 => json!({
            "timestamp": timestamp(now),
            "connectorStatus": status_v201(status),
            "evseId": evse,
            "connectorId": if evse == 0 { 0 } else { 1 },
        }),
    }
}

/// Authorize for an RFID-style token (2.0.1 type `ISO14443`).
pub fn authorize(version: OcppVersion, id_tag: &str) -> Value {
    match version {
        OcppVersion::V16 => json!({ "idTag": id_tag }),
        OcppVersion::V201 => json!({ "idToken": id_token(id_tag) }),
    }
}

fn id_token(id_tag: &str) -> Value {
    json!({ "idToken": id_tag, "type": "ISO14443" })
}

/// One meter reading: the energy register in Wh plus `Current.Import` per phase (L1, L2,
/// L3 in order), in the version's SampledValue shape.
pub fn meter_value(
    version: OcppVersion,
    energy_wh: f64,
    currents_a: &[f64],
    context: &str,
    now: &DateTime<Utc>,
) -> Value {
    const PHASES: [&str; 3] = ["L1", "L2", "L3"];
    let mut samples = Vec::with_capacity(1 + currents_a.len());
    let sample = |value: f64, measurand: &str, phase: Option<&str>, unit: &str| -> Value {
        let mut s = match version {
            OcppVersion::V16 => json!({
                "value": value_string(value),
                "context": context,
                "measurand": measurand,
                "location": "Outlet",
                "unit": unit,
            }),
            OcppVersion::V201 => json!({
                "value": value,
                "context": context,
                "measurand": measurand,
                "location": "Outlet",
                "unitOfMeasure": { "unit": unit },
            }),
        };
        if let (Some(phase), Some(obj)) = (phase, s.as_object_mut()) {
            obj.insert("phase".into(), phase.into());
        }
        s
    };
    samples.push(sample(
        energy_wh,
        "Energy.Active.Import.Register",
        None,
        "Wh",
    ));
    for (i, current) in currents_a.iter().take(PHASES.len()).enumerate() {
        samples.push(sample(*current, "Current.Import", Some(PHASES[i]), "A"));
    }
    json!({ "timestamp": timestamp(now), "sampledValue": samples })
}

/// A plain MeterValues (no transaction in 2.0.1; `transaction_id` optional in 1.6).
pub fn meter_values(
    version: OcppVersion,
    evse: u32,
    transaction_id: Option<i64>,
    energy_wh: f64,
    currents_a: &[f64],
    now: &DateTime<Utc>,
) -> Value {
    let mv = meter_value(version, energy_wh, currents_a, "Sample.Periodic", now);
    match version {
        OcppVersion::V16 => {
            let mut p = json!({ "connectorId": evse, "meterValue": [mv] });
            if let (Some(tx), Some(obj)) = (transaction_id, p.as_object_mut()) {
                obj.insert("transactionId".into(), tx.into());
            }
            p
        }
        OcppVersion::V201 => json!({ "evseId": evse, "meterValue": [mv] }),
    }
}

/// 1.6 StartTransaction.req.
pub fn start_transaction_v16(
    connector: u32,
    id_tag: &str,
    meter_start_wh: i64,
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "connectorId": connector,
        "idTag": id_tag,
        "meterStart": meter_start_wh,
        "timestamp": timestamp(at),
    })
}

/// 1.6 StopTransaction.req.
pub fn stop_transaction_v16(
    transaction_id: i64,
    meter_stop_wh: i64,
    reason: &str,
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "transactionId": transaction_id,
        "meterStop": meter_stop_wh,
        "timestamp": timestamp(at),
        "reason": reason,
    })
}

/// 2.0.1 TransactionEvent `Started` (seqNo 0, trigger `Authorized`), with the id token
/// and a `Transaction.Begin` energy reading.
pub fn transaction_started_v201(
    transaction_id: &str,
    evse: u32,
    id_tag: &str,
    meter_start_wh: i64,
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "eventType": "Started",
        "timestamp": timestamp(at),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": { "transactionId": transaction_id, "chargingState": "Charging" },
        "evse": { "id": evse, "connectorId": 1 },
        "idToken": id_token(id_tag),
        "meterValue": [meter_value(OcppVersion::V201, meter_start_wh as f64, &[], "Transaction.Begin", at)],
    })
}

/// 2.0.1 TransactionEvent `Updated` with a periodic meter reading.
pub fn transaction_updated_v201(
    transaction_id: &str,
    seq_no: u64,
    evse: u32,
    energy_wh: f64,
    currents_a: &[f64],
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "eventType": "Updated",
        "timestamp": timestamp(at),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": { "transactionId": transaction_id, "chargingState": "Charging" },
        "evse": { "id": evse, "connectorId": 1 },
        "meterValue": [meter_value(OcppVersion::V201, energy_wh, currents_a, "Sample.Periodic", at)],
    })
}

/// 2.0.1 TransactionEvent `Updated` for a change of the vehicle's charging state (E02:
/// trigger `ChargingStateChanged`), e.g. `SuspendedEV` when a full battery stops drawing.
pub fn transaction_state_v201(
    transaction_id: &str,
    seq_no: u64,
    evse: u32,
    charging_state: &str,
    energy_wh: f64,
    currents_a: &[f64],
    at: &DateTime<Utc>,
) -> Value {
    // The periodic update with another trigger, state and reading context.
    let mut event =
        transaction_updated_v201(transaction_id, seq_no, evse, energy_wh, currents_a, at);
    event["triggerReason"] = json!("ChargingStateChanged");
    event["transactionInfo"]["chargingState"] = json!(charging_state);
    event["meterValue"] = json!([meter_value(
        OcppVersion::V201,
        energy_wh,
        currents_a,
        "Trigger",
        at
    )]);
    event
}

/// The 2.0.1 triggerReason that goes with a stoppedReason.
fn stop_trigger_v201(reason: &str) -> &'static str {
    match reason {
        "Remote" => "RemoteStop",
        "Local" => "StopAuthorized",
        "DeAuthorized" => "Deauthorized",
        "EVDisconnected" => "EVCommunicationLost",
        "EnergyLimitReached" => "EnergyLimitReached",
        "TimeLimitReached" => "TimeLimitReached",
        "ImmediateReset" | "Reboot" => "ResetCommand",
        _ => "AbnormalCondition",
    }
}

/// 2.0.1 TransactionEvent `Ended` with `stoppedReason` and a `Transaction.End` reading.
pub fn transaction_ended_v201(
    transaction_id: &str,
    seq_no: u64,
    meter_stop_wh: i64,
    reason: &str,
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "eventType": "Ended",
        "timestamp": timestamp(at),
        "triggerReason": stop_trigger_v201(reason),
        "seqNo": seq_no,
        "transactionInfo": {
            "transactionId": transaction_id,
            "chargingState": "Idle",
            "stoppedReason": reason,
        },
        "meterValue": [meter_value(OcppVersion::V201, meter_stop_wh as f64, &[], "Transaction.End", at)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::schema_check::assert_valid;

    fn dir(v: OcppVersion) -> &'static str {
        match v {
            OcppVersion::V16 => "v16",
            OcppVersion::V201 => "v201",
        }
    }

    #[test]
    fn every_builder_fits_its_schema() {
        let now = Utc::now();
        for v in [OcppVersion::V16, OcppVersion::V201] {
            let d = dir(v);
            assert_valid(
                d,
                "BootNotification",
                false,
                &boot_notification(v, "CP-1", "PowerUp"),
            );
            assert_valid(
                d,
                "StatusNotification",
                false,
                &status_notification(v, 1, "Charging", &now),
            );
            assert_valid(d, "Authorize", false, &authorize(v, "TAG-1"));
            assert_valid(
                d,
                "MeterValues",
                false,
                &meter_values(v, 1, Some(7), 1234.5, &[16.0, 15.5, 16.2], &now),
            );
        }
        assert_valid(
            "v16",
            "StartTransaction",
            false,
            &start_transaction_v16(1, "TAG", 100, &now),
        );
        assert_valid(
            "v16",
            "StopTransaction",
            false,
            &stop_transaction_v16(7, 900, "Local", &now),
        );
        let tx = "0b7e6a4c-1d2f-4c3b-8a9e-0123456789ab";
        assert_valid(
            "v201",
            "TransactionEvent",
            false,
            &transaction_started_v201(tx, 1, "TAG", 100, &now),
        );
        assert_valid(
            "v201",
            "TransactionEvent",
            false,
            &transaction_updated_v201(tx, 1, 1, 500.0, &[16.0], &now),
        );
        assert_valid(
            "v201",
            "TransactionEvent",
            false,
            &transaction_state_v201(tx, 2, 1, "SuspendedEV", 600.0, &[0.0], &now),
        );
        assert_valid(
            "v201",
            "TransactionEvent",
            false,
            &transaction_ended_v201(tx, 2, 900, "Remote", &now),
        );
    }

    #[test]
    fn v16_values_are_strings_and_v201_statuses_are_mapped() {
        let now = Utc::now();
        let mv = meter_values(OcppVersion::V16, 2, None, 1500.0, &[10.5], &now);
        assert_eq!(mv["meterValue"][0]["sampledValue"][0]["value"], "1500");
        assert_eq!(mv["meterValue"][0]["sampledValue"][1]["value"], "10.5");
        assert_eq!(mv["meterValue"][0]["sampledValue"][1]["phase"], "L1");
        assert!(mv.get("transactionId").is_none());
        let sn = status_notification(OcppVersion::V201, 2, "Charging", &now);
        assert_eq!(sn["connectorStatus"], "Occupied");
        assert_eq!(sn["evseId"], 2);
    }
}
