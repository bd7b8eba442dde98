//! How a simulated charger answers the CALLs a CSMS sends it, per `ReplyPolicy` and
//! OCPP version, and the small amount of charger state those answers read and change.
//!
//! Answers are written with `json!` and fit the official response schemas. `Accept` gives
//! the positive answer, `Reject` the negative status where the action has one (actions
//! without a status answer as under `Accept`), and an action the simulator does not know
//! gets a CALLERROR `NotSupported`. Some accepted requests make a real charger send a
//! message of its own afterwards (TriggerMessage, 2.0.1 GetBaseReport and
//! GetChargingProfiles); those come back as follow-up CALLs for the connection to send.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::messages::{self, timestamp};
use super::profiles;
use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::RpcErrorCode;

/// How the simulator answers the CSMS's CALLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyPolicy {
    /// A schema-valid positive response for the action and version.
    #[default]
    Accept,
    /// Status `Rejected` (or the action's negative status) where the action has one.
    Reject,
    /// Never answer: a slow or hung charger.
    Ignore,
    /// Act as `Accept` but lose the answer: the CSMS never learns that the charger applied
    /// what it sent (a connection that drops at the wrong moment).
    AcceptSilently,
}

/// What a 2.0.1 charger knows of one of its transactions, for GetTransactionStatus (E14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxMemory {
    /// Still running.
    pub ongoing: bool,
    /// Messages about it wait in the charger's queue (it was offline).
    pub queued: bool,
}

/// What the charger remembers between CALLs.
#[derive(Debug, Clone)]
pub struct ChargerState {
    /// The charger's identity, used as its serial number.
    pub id: String,
    /// Accepted SetChargingProfile payloads, oldest first (a new profile replaces one with
    /// the same id).
    pub profiles: Vec<Value>,
    /// 1.6 configuration keys: key -> (value, readonly).
    pub configuration: BTreeMap<String, (String, bool)>,
    /// 2.0.1 device-model variables: (component, variable) -> value.
    pub variables: BTreeMap<(String, String), String>,
    /// The local authorisation list version (0: no list).
    pub local_list_version: i64,
    /// The local authorisation list: id -> idTagInfo (1.6) / idTokenInfo (2.0.1).
    pub local_list: BTreeMap<String, Value>,
    /// The status the next differential SendLocalList is answered with instead of
    /// applying it (`VersionMismatch`, `Failed`): a charger whose list is not the one
    /// the CSMS thinks.
    pub refuse_next_differential: Option<String>,
    /// The last status reported per connector (1.6) or EVSE (2.0.1).
    pub statuses: BTreeMap<u32, String>,
    /// A faulty charger: accepts ChargingProfiles but does not apply them.
    pub ignores_profiles: bool,
    /// EVSEs (1.6 connectors) the CSMS asked for a MeterValues by TriggerMessage, not yet
    /// answered: the simulator does not know what its vehicles draw, so whoever drives
    /// them takes these (`SimChargePoint::take_meter_value_requests`) and reports.
    pub meter_value_requests: Vec<u32>,
    /// 2.0.1 transactions by id, as GetTransactionStatus reports them; one not listed is
    /// unknown (not ongoing, nothing queued).
    pub transactions: BTreeMap<String, TxMemory>,
    /// 2.0.1 installed certificates: (certificate type, CertificateHashDataType).
    pub certificates: Vec<(String, Value)>,
    /// 2.0.1: the private key (PEM) of the last SignCertificate's request.
    pub certificate_key: Option<String>,
    /// 2.0.1: the chains received in CertificateSigned, oldest first.
    pub signed_chains: Vec<String>,
    /// 2.0.1: what the station keeps per customer (id token, identifier or certificate
    /// serial), for CustomerInformation.
    pub customer_data: BTreeMap<String, String>,
}

impl ChargerState {
    pub fn new(id: &str) -> Self {
        let configuration = [
            ("HeartbeatInterval", "300", false),
            ("MeterValueSampleInterval", "60", false),
            (
                "MeterValuesSampledData",
                "Energy.Active.Import.Register,Current.Import",
                false,
            ),
            ("NumberOfConnectors", "2", true),
            ("ConnectionTimeOut", "60", false),
            ("AuthorizeRemoteTxRequests", "false", false),
            ("LocalAuthListEnabled", "true", false),
            ("ChargeProfileMaxStackLevel", "10", true),
            (
                "ChargingScheduleAllowedChargingRateUnit",
                "Current,Power",
                true,
            ),
            ("ChargingScheduleMaxPeriods", "24", true),
            ("MaxChargingProfilesInstalled", "16", true),
            (
                "SupportedFeatureProfiles",
                "Core,SmartCharging,RemoteTrigger,Reservation,LocalAuthListManagement",
                true,
            ),
        ]
        .into_iter()
        .map(|(k, v, ro)| (k.to_string(), (v.to_string(), ro)))
        .collect();
        let variables = [
            ("OCPPCommCtrlr", "HeartbeatInterval", "300"),
            ("SampledDataCtrlr", "TxUpdatedInterval", "60"),
            (
                "SampledDataCtrlr",
                "TxUpdatedMeasurands",
                "Energy.Active.Import.Register,Current.Import",
            ),
            ("SmartChargingCtrlr", "Enabled", "true"),
            ("SmartChargingCtrlr", "ProfileStackLevel", "10"),
            ("SmartChargingCtrlr", "RateUnit", "A,W"),
            ("SmartChargingCtrlr", "PeriodsPerSchedule", "24"),
            ("SmartChargingCtrlr", "Entries", "16"),
            ("LocalAuthListCtrlr", "Enabled", "true"),
            ("AuthCtrlr", "AuthorizeRemoteStart", "false"),
        ]
        .into_iter()
        .map(|(c, v, val)| ((c.to_string(), v.to_string()), val.to_string()))
        .collect();
        Self {
            id: id.to_string(),
            profiles: Vec::new(),
            configuration,
            variables,
            local_list_version: 0,
            local_list: BTreeMap::new(),
            refuse_next_differential: None,
            statuses: BTreeMap::new(),
            ignores_profiles: false,
            meter_value_requests: Vec::new(),
            transactions: BTreeMap::new(),
            certificates: Vec::new(),
            certificate_key: None,
            signed_chains: Vec::new(),
            customer_data: BTreeMap::new(),
        }
    }
}

/// The charger's answer to one CALL.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// CALLRESULT with this payload, then these CALLs of the charger's own.
    Result {
        payload: Value,
        follow_ups: Vec<(String, Value)>,
    },
    /// CALLERROR with this code and description.
    Error {
        code: RpcErrorCode,
        description: String,
    },
}

pub(super) fn result(payload: Value) -> Answer {
    Answer::Result {
        payload,
        follow_ups: Vec::new(),
    }
}

/// SendLocalList (1.6 §5.15, 2.0.1 D01): Full replaces the list, Differential updates
/// the entries it carries and removes those without info. A differential update whose
/// version is not above the list's is answered VersionMismatch (1.6 §7.47).
fn send_local_list(v16: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    let (version_key, info_key, id_of): (_, _, fn(&Value) -> Option<&str>) = if v16 {
        ("listVersion", "idTagInfo", |e| text(e, "idTag"))
    } else {
        ("versionNumber", "idTokenInfo", |e| {
            e.get("idToken").and_then(|t| text(t, "idToken"))
        })
    };
    let version = int(payload, version_key).unwrap_or(0);
    let full = text(payload, "updateType") == Some("Full");
    if !full {
        if let Some(refusal) = state.refuse_next_differential.take() {
            return result(json!({ "status": refusal }));
        }
        if version <= state.local_list_version {
            return result(json!({ "status": "VersionMismatch" }));
        }
    }
    let mut list = if full {
        BTreeMap::new()
    } else {
        state.local_list.clone()
    };
    let entries = payload
        .get("localAuthorizationList")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for entry in entries {
        let Some(id) = id_of(entry) else {
            return result(json!({ "status": "Failed" }));
        };
        match entry.get(info_key) {
            Some(info) => {
                list.insert(id.to_string(), info.clone());
            }
            None => {
                list.remove(id);
            }
        }
    }
    state.local_list = list;
    state.local_list_version = version;
    result(json!({ "status": "Accepted" }))
}

pub(super) fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub(super) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Answers `action` with `payload` under `policy` (never `Ignore`: the caller does not
/// answer at all then), updating `state`.
pub fn answer(
    version: OcppVersion,
    policy: ReplyPolicy,
    action: &str,
    payload: &Value,
    state: &mut ChargerState,
    now: &DateTime<Utc>,
) -> Answer {
    let accept = policy != ReplyPolicy::Reject;
    let v16 = version == OcppVersion::V16;
    match action {
        "SetChargingProfile" => profiles::set(version, accept, payload, state),
        "ClearChargingProfile" => profiles::clear(version, accept, payload, state),
        "GetCompositeSchedule" => {
            profiles::composite_schedule(version, accept, payload, state, now)
        }
        "GetChargingProfiles" if !v16 => profiles::report(version, accept, payload, state),
        "RemoteStartTransaction" | "RemoteStopTransaction" if v16 => {
            result(status(accept, "Accepted", "Rejected"))
        }
        "RequestStartTransaction" | "RequestStopTransaction" if !v16 => {
            result(status(accept, "Accepted", "Rejected"))
        }
        "Reset" | "ChangeAvailability" | "ReserveNow" | "CancelReservation" | "ClearCache" => {
            result(status(accept, "Accepted", "Rejected"))
        }
        // Echoes the data, as a vendor extension that answers would.
        "DataTransfer" => {
            let mut answer = status(accept, "Accepted", "Rejected");
            if let Some(data) = payload.get("data").filter(|_| accept) {
                answer["data"] = data.clone();
            }
            result(answer)
        }
        "UnlockConnector" => result(status(accept, "Unlocked", "UnlockFailed")),
        "SendLocalList" if accept => send_local_list(v16, payload, state),
        "SendLocalList" => result(status(accept, "Accepted", "Failed")),
        "GetLocalListVersion" => {
            let key = if v16 { "listVersion" } else { "versionNumber" };
            result(json!({ key: state.local_list_version }))
        }
        "GetConfiguration" if v16 => get_configuration(payload, state),
        "ChangeConfiguration" if v16 => change_configuration(accept, payload, state),
        "GetVariables" if !v16 => get_variables(accept, payload, state),
        "SetVariables" if !v16 => set_variables(accept, payload, state),
        "GetBaseReport" if !v16 => get_base_report(accept, payload, state, now),
        "UpdateFirmware" => update_firmware(version, accept, payload),
        "GetDiagnostics" if v16 => get_log(version, accept, payload, state),
        "GetLog" if !v16 => get_log(version, accept, payload, state),
        "TriggerMessage" => trigger(version, accept, payload, state, now),
        "GetTransactionStatus" if !v16 => transaction_status(payload, state),
        "SetNetworkProfile" if !v16 => result(status(accept, "Accepted", "Rejected")),
        "InstallCertificate" if !v16 => super::certificates::install(accept, payload, state),
        "GetInstalledCertificateIds" if !v16 => super::certificates::installed(payload, state),
        "DeleteCertificate" if !v16 => super::certificates::delete(accept, payload, state),
        "CertificateSigned" if !v16 => super::certificates::signed(accept, payload, state),
        "CustomerInformation" if !v16 => {
            super::customer::customer_information(accept, payload, state, now)
        }
        _ => Answer::Error {
            code: RpcErrorCode::NotSupported,
            description: format!("the simulator does not support {action}"),
        },
    }
}

/// GetTransactionStatus (E14): about one transaction (`ongoingIndicator` only then,
/// E14.FR.06), or whether anything at all is queued.
fn transaction_status(payload: &Value, state: &ChargerState) -> Answer {
    match text(payload, "transactionId") {
        Some(tx) => {
            let known = state.transactions.get(tx).copied().unwrap_or_default();
            result(json!({"ongoingIndicator": known.ongoing, "messagesInQueue": known.queued}))
        }
        None => result(json!({
            "messagesInQueue": state.transactions.values().any(|t| t.queued),
        })),
    }
}

/// `{"status": yes}` when accepting, else `{"status": no}`.
pub(super) fn status(accept: bool, yes: &str, no: &str) -> Value {
    json!({ "status": if accept { yes } else { no } })
}

/// 1.6: the keys asked for (all when none), and the unknown ones.
fn get_configuration(payload: &Value, state: &ChargerState) -> Answer {
    let requested: Option<Vec<String>> = payload.get("key").and_then(Value::as_array).map(|keys| {
        keys.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    let entry = |k: &str, (v, ro): &(String, bool)| json!({ "key": k, "readonly": ro, "value": v });
    let (known, unknown): (Vec<Value>, Vec<String>) = match requested {
        Some(keys) if !keys.is_empty() => {
            let mut known = Vec::new();
            let mut unknown = Vec::new();
            for k in keys {
                match state.configuration.get(&k) {
                    Some(v) => known.push(entry(&k, v)),
                    None => unknown.push(k),
                }
            }
            (known, unknown)
        }
        _ => (
            state
                .configuration
                .iter()
                .map(|(k, v)| entry(k, v))
                .collect(),
            Vec::new(),
        ),
    };
    let mut answer = json!({ "configurationKey": known });
    if !unknown.is_empty() {
        answer["unknownKey"] = json!(unknown);
    }
    result(answer)
}

/// 1.6: a read-only key is rejected; an unknown one is added.
fn change_configuration(accept: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    let key = text(payload, "key").unwrap_or_default().to_string();
    let value = text(payload, "value").unwrap_or_default().to_string();
    if !accept {
        return result(json!({ "status": "Rejected" }));
    }
    match state.configuration.get_mut(&key) {
        Some((_, true)) => result(json!({ "status": "Rejected" })),
        Some((v, false)) => {
            *v = value;
            result(json!({ "status": "Accepted" }))
        }
        None => {
            state.configuration.insert(key, (value, false));
            result(json!({ "status": "Accepted" }))
        }
    }
}

/// 2.0.1: one result per requested variable.
fn get_variables(accept: bool, payload: &Value, state: &ChargerState) -> Answer {
    let items = payload.get("getVariableData").and_then(Value::as_array);
    let results: Vec<Value> = items
        .into_iter()
        .flatten()
        .map(|item| {
            let component = item.get("component").cloned().unwrap_or(json!({}));
            let variable = item.get("variable").cloned().unwrap_or(json!({}));
            let key = (
                text(&component, "name").unwrap_or_default().to_string(),
                text(&variable, "name").unwrap_or_default().to_string(),
            );
            let mut r = json!({ "component": component, "variable": variable });
            if let Some(t) = item.get("attributeType") {
                r["attributeType"] = t.clone();
            }
            match state.variables.get(&key) {
                _ if !accept => r["attributeStatus"] = json!("Rejected"),
                Some(value) => {
                    r["attributeStatus"] = json!("Accepted");
                    r["attributeValue"] = json!(value);
                }
                None if state.variables.keys().any(|(c, _)| *c == key.0) => {
                    r["attributeStatus"] = json!("UnknownVariable");
                }
                None => r["attributeStatus"] = json!("UnknownComponent"),
            }
            r
        })
        .collect();
    result(json!({ "getVariableResult": results }))
}

/// 2.0.1: stores each accepted value; one result per variable.
fn set_variables(accept: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    let items = payload.get("setVariableData").and_then(Value::as_array);
    let results: Vec<Value> = items
        .into_iter()
        .flatten()
        .map(|item| {
            let component = item.get("component").cloned().unwrap_or(json!({}));
            let variable = item.get("variable").cloned().unwrap_or(json!({}));
            if accept {
                state.variables.insert(
                    (
                        text(&component, "name").unwrap_or_default().to_string(),
                        text(&variable, "name").unwrap_or_default().to_string(),
                    ),
                    text(item, "attributeValue").unwrap_or_default().to_string(),
                );
            }
            let mut r = json!({
                "attributeStatus": if accept { "Accepted" } else { "Rejected" },
                "component": component,
                "variable": variable,
            });
            if let Some(t) = item.get("attributeType") {
                r["attributeType"] = t.clone();
            }
            r
        })
        .collect();
    result(json!({ "setVariableResult": results }))
}

/// 2.0.1: every variable follows in NotifyReport parts of `REPORT_PART` entries.
fn get_base_report(
    accept: bool,
    payload: &Value,
    state: &ChargerState,
    now: &DateTime<Utc>,
) -> Answer {
    if !accept {
        return result(json!({ "status": "Rejected" }));
    }
    let report: Vec<Value> = state
        .variables
        .iter()
        .map(|((c, v), value)| {
            json!({
                "component": { "name": c },
                "variable": { "name": v },
                "variableAttribute": [{ "type": "Actual", "value": value, "mutability": "ReadWrite" }],
                "variableCharacteristics": { "dataType": "string", "supportsMonitoring": false },
            })
        })
        .collect();
    // In parts of `REPORT_PART` entries, as a station splits a large report (B07.FR.03:
    // seqNo from 0, tbc true on all but the last).
    let chunks: Vec<&[Value]> = report.chunks(REPORT_PART).collect();
    let last = chunks.len().saturating_sub(1);
    let follow_ups = chunks
        .iter()
        .enumerate()
        .map(|(seq, part)| {
            let notify = json!({
                "requestId": int(payload, "requestId").unwrap_or(0),
                "generatedAt": timestamp(now),
                "seqNo": seq,
                "tbc": seq != last,
                "reportData": part,
            });
            ("NotifyReport".to_string(), notify)
        })
        .collect();
    Answer::Result {
        payload: json!({ "status": "Accepted" }),
        follow_ups,
    }
}

/// Entries per NotifyReport part.
const REPORT_PART: usize = 4;

/// The notifications of a charger working through a request: `action` with each status,
/// and the 2.0.1 requestId where the request had one.
fn progress(action: &str, statuses: &[&str], request_id: Option<i64>) -> Vec<(String, Value)> {
    statuses
        .iter()
        .map(|status| {
            let mut payload = json!({ "status": status });
            if let Some(id) = request_id {
                payload["requestId"] = id.into();
            }
            (action.to_string(), payload)
        })
        .collect()
}

/// UpdateFirmware: accepted (1.6 has no status to refuse with: `{}` either way), then the
/// download and installation reported step by step (1.6 §4.5, 2.0.1 L01); a 2.0.1
/// signed update is reported verified before it installs (L02). Refused: nothing follows.
fn update_firmware(version: OcppVersion, accept: bool, payload: &Value) -> Answer {
    let v16 = version == OcppVersion::V16;
    let answer = if v16 {
        json!({})
    } else {
        status(accept, "Accepted", "Rejected")
    };
    if !accept {
        return result(answer);
    }
    let signed = payload
        .get("firmware")
        .is_some_and(|f| f.get("signature").is_some());
    let mut steps = vec!["Downloading", "Downloaded"];
    if signed {
        steps.push("SignatureVerified");
    }
    steps.extend(["Installing", "Installed"]);
    Answer::Result {
        payload: answer,
        follow_ups: progress(
            "FirmwareStatusNotification",
            &steps,
            int(payload, "requestId"),
        ),
    }
}

/// GetDiagnostics (1.6) / GetLog (2.0.1): the file name, then the upload reported as
/// Uploading and Uploaded. Refused: 1.6 names no file (it has no diagnostics), 2.0.1
/// answers Rejected; nothing follows.
fn get_log(version: OcppVersion, accept: bool, payload: &Value, state: &ChargerState) -> Answer {
    let file = format!("{}-diagnostics.log", state.id);
    let (answer, action) = match (version, accept) {
        (OcppVersion::V16, true) => (json!({ "fileName": file }), "DiagnosticsStatusNotification"),
        (OcppVersion::V16, false) => (json!({}), ""),
        (OcppVersion::V201, true) => (
            json!({ "status": "Accepted", "filename": file }),
            "LogStatusNotification",
        ),
        (OcppVersion::V201, false) => (json!({ "status": "Rejected" }), ""),
    };
    if !accept {
        return result(answer);
    }
    Answer::Result {
        payload: answer,
        follow_ups: progress(
            action,
            &["Uploading", "Uploaded"],
            int(payload, "requestId"),
        ),
    }
}

/// TriggerMessage: Heartbeat, BootNotification and StatusNotification are sent after the
/// answer; MeterValues is accepted and left to whoever drives the vehicles
/// (`ChargerState::meter_value_requests`); other messages are answered `NotImplemented`.
fn trigger(
    version: OcppVersion,
    accept: bool,
    payload: &Value,
    state: &mut ChargerState,
    now: &DateTime<Utc>,
) -> Answer {
    if !accept {
        return result(json!({ "status": "Rejected" }));
    }
    let evse = match version {
        OcppVersion::V16 => int(payload, "connectorId"),
        OcppVersion::V201 => payload.get("evse").and_then(|e| int(e, "id")),
    };
    let follow_ups = match text(payload, "requestedMessage").unwrap_or_default() {
        "Heartbeat" => vec![("Heartbeat".to_string(), json!({}))],
        "BootNotification" => vec![(
            "BootNotification".to_string(),
            messages::boot_notification(version, &state.id, "Triggered"),
        )],
        "StatusNotification" => {
            let evses: Vec<u32> = match evse {
                Some(e) => u32::try_from(e).into_iter().collect(),
                None if state.statuses.is_empty() => vec![0],
                None => state.statuses.keys().copied().collect(),
            };
            evses
                .into_iter()
                .map(|e| {
                    let status = state.statuses.get(&e).map_or("Available", String::as_str);
                    (
                        "StatusNotification".to_string(),
                        messages::status_notification(version, e, status, now),
                    )
                })
                .collect()
        }
        "MeterValues" => {
            let evse = evse.and_then(|e| u32::try_from(e).ok()).unwrap_or(0);
            state.meter_value_requests.push(evse);
            Vec::new()
        }
        "SignChargingStationCertificate" if version == OcppVersion::V201 => {
            vec![super::certificates::sign_request(state)]
        }
        _ => return result(json!({ "status": "NotImplemented" })),
    };
    Answer::Result {
        payload: json!({ "status": "Accepted" }),
        follow_ups,
    }
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

    #[allow(
        clippy::too_many_lines,
        reason = "one request per action and version: a data table"
    )]
    fn requests(version: OcppVersion) -> Vec<(&'static str, Value)> {
        match version {
            OcppVersion::V16 => vec![
                (
                    "SetChargingProfile",
                    json!({"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 5, "stackLevel": 1,
                        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}}),
                ),
                (
                    "GetCompositeSchedule",
                    json!({"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}),
                ),
                ("ClearChargingProfile", json!({"id": 5})),
                ("RemoteStartTransaction", json!({"idTag": "T"})),
                ("RemoteStopTransaction", json!({"transactionId": 1})),
                ("Reset", json!({"type": "Soft"})),
                ("UnlockConnector", json!({"connectorId": 1})),
                (
                    "ChangeAvailability",
                    json!({"connectorId": 0, "type": "Inoperative"}),
                ),
                (
                    "GetConfiguration",
                    json!({"key": ["HeartbeatInterval", "Nope"]}),
                ),
                (
                    "ChangeConfiguration",
                    json!({"key": "HeartbeatInterval", "value": "60"}),
                ),
                (
                    "TriggerMessage",
                    json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
                ),
                (
                    "ReserveNow",
                    json!({"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "T", "reservationId": 1}),
                ),
                ("CancelReservation", json!({"reservationId": 1})),
                (
                    "SendLocalList",
                    json!({"listVersion": 3, "updateType": "Full"}),
                ),
                ("GetLocalListVersion", json!({})),
                ("DataTransfer", json!({"vendorId": "x"})),
                ("ClearCache", json!({})),
                (
                    "UpdateFirmware",
                    json!({"location": "ftp://f/x.bin", "retrieveDate": "2030-01-01T00:00:00Z"}),
                ),
                ("GetDiagnostics", json!({"location": "ftp://f/up/"})),
            ],
            OcppVersion::V201 => vec![
                (
                    "SetChargingProfile",
                    json!({"evseId": 1, "chargingProfile": {"id": 5, "stackLevel": 1,
                        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                        "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}]}}),
                ),
                (
                    "GetCompositeSchedule",
                    json!({"evseId": 1, "duration": 3600, "chargingRateUnit": "W"}),
                ),
                (
                    "GetChargingProfiles",
                    json!({"requestId": 9, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}),
                ),
                ("ClearChargingProfile", json!({"chargingProfileId": 5})),
                (
                    "RequestStartTransaction",
                    json!({"idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 1}),
                ),
                ("RequestStopTransaction", json!({"transactionId": "abc"})),
                ("Reset", json!({"type": "Immediate"})),
                ("UnlockConnector", json!({"evseId": 1, "connectorId": 1})),
                (
                    "ChangeAvailability",
                    json!({"operationalStatus": "Inoperative"}),
                ),
                (
                    "GetVariables",
                    json!({"getVariableData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
                    {"component": {"name": "Nope"}, "variable": {"name": "Nope"}}]}),
                ),
                (
                    "SetVariables",
                    json!({"setVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}]}),
                ),
                ("TriggerMessage", json!({"requestedMessage": "Heartbeat"})),
                (
                    "ReserveNow",
                    json!({"id": 1, "expiryDateTime": "2030-01-01T00:00:00Z", "idToken": {"idToken": "T", "type": "Central"}}),
                ),
                ("CancelReservation", json!({"reservationId": 1})),
                (
                    "SendLocalList",
                    json!({"versionNumber": 3, "updateType": "Full"}),
                ),
                ("GetLocalListVersion", json!({})),
                (
                    "GetBaseReport",
                    json!({"requestId": 4, "reportBase": "FullInventory"}),
                ),
                ("DataTransfer", json!({"vendorId": "x"})),
                ("ClearCache", json!({})),
                (
                    "UpdateFirmware",
                    json!({"requestId": 3, "firmware": {"location": "https://f/x.bin",
                    "retrieveDateTime": "2030-01-01T00:00:00Z", "signingCertificate": "C",
                    "signature": "S"}}),
                ),
                (
                    "GetLog",
                    json!({"requestId": 5, "logType": "DiagnosticsLog",
                    "log": {"remoteLocation": "https://f/up"}}),
                ),
            ],
        }
    }

    #[test]
    fn every_answer_fits_its_schema_under_both_policies() {
        let now = Utc::now();
        for version in [OcppVersion::V16, OcppVersion::V201] {
            for policy in [ReplyPolicy::Accept, ReplyPolicy::Reject] {
                let mut state = ChargerState::new("CP-1");
                for (action, request) in requests(version) {
                    assert_valid(dir(version), action, false, &request);
                    match answer(version, policy, action, &request, &mut state, &now) {
                        Answer::Result {
                            payload,
                            follow_ups,
                        } => {
                            assert_valid(dir(version), action, true, &payload);
                            for (a, p) in follow_ups {
                                assert_valid(dir(version), &a, false, &p);
                            }
                        }
                        Answer::Error { code, .. } => panic!("{action}: CALLERROR {code:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn profiles_are_kept_replaced_reported_and_cleared() {
        let now = Utc::now();
        let v = OcppVersion::V201;
        let mut state = ChargerState::new("CP-1");
        let reqs = requests(v);
        let set = &reqs[0].1;
        answer(
            v,
            ReplyPolicy::Accept,
            "SetChargingProfile",
            set,
            &mut state,
            &now,
        );
        answer(
            v,
            ReplyPolicy::Accept,
            "SetChargingProfile",
            set,
            &mut state,
            &now,
        );
        assert_eq!(state.profiles, vec![set.clone()]);
        let Answer::Result { payload, .. } = answer(
            v,
            ReplyPolicy::Accept,
            "GetCompositeSchedule",
            &reqs[1].1,
            &mut state,
            &now,
        ) else {
            panic!("composite schedule refused");
        };
        assert_eq!(
            payload["schedule"]["chargingSchedulePeriod"][0]["limit"],
            7400.0
        );
        let Answer::Result {
            payload,
            follow_ups,
        } = answer(
            v,
            ReplyPolicy::Accept,
            "GetChargingProfiles",
            &reqs[2].1,
            &mut state,
            &now,
        )
        else {
            panic!("GetChargingProfiles refused");
        };
        assert_eq!(payload["status"], "Accepted");
        assert_eq!(follow_ups.len(), 1);
        assert_eq!(follow_ups[0].1["requestId"], 9);
        assert_eq!(follow_ups[0].1["chargingProfile"][0]["id"], 5);
        answer(
            v,
            ReplyPolicy::Accept,
            "ClearChargingProfile",
            &reqs[3].1,
            &mut state,
            &now,
        );
        assert!(state.profiles.is_empty());
        let rejected = answer(
            v,
            ReplyPolicy::Reject,
            "SetChargingProfile",
            set,
            &mut state,
            &now,
        );
        assert!(state.profiles.is_empty());
        assert!(
            matches!(rejected, Answer::Result { payload, .. } if payload["status"] == "Rejected")
        );
    }

    #[test]
    fn configuration_and_variables_round_trip_and_unknown_actions_are_not_supported() {
        let now = Utc::now();
        let mut state = ChargerState::new("CP-1");
        let v16 = OcppVersion::V16;
        answer(
            v16,
            ReplyPolicy::Accept,
            "ChangeConfiguration",
            &json!({"key": "HeartbeatInterval", "value": "45"}),
            &mut state,
            &now,
        );
        let got = answer(
            v16,
            ReplyPolicy::Accept,
            "GetConfiguration",
            &json!({"key": ["HeartbeatInterval", "Nope"]}),
            &mut state,
            &now,
        );
        let Answer::Result { payload, .. } = got else {
            panic!("refused")
        };
        assert_eq!(payload["configurationKey"][0]["value"], "45");
        assert_eq!(payload["unknownKey"], json!(["Nope"]));

        let v201 = OcppVersion::V201;
        answer(
            v201,
            ReplyPolicy::Accept,
            "SetVariables",
            &json!({"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "45"}]}),
            &mut state,
            &now,
        );
        let Answer::Result { payload, .. } = answer(
            v201,
            ReplyPolicy::Accept,
            "GetVariables",
            &requests(v201)[9].1,
            &mut state,
            &now,
        ) else {
            panic!("refused")
        };
        let r = &payload["getVariableResult"];
        assert_eq!(r[0]["attributeValue"], "45");
        assert_eq!(r[1]["attributeStatus"], "UnknownVariable");
        assert_eq!(r[2]["attributeStatus"], "UnknownComponent");

        assert_eq!(
            answer(
                v201,
                ReplyPolicy::Accept,
                "FlyToTheMoon",
                &json!({}),
                &mut state,
                &now
            ),
            Answer::Error {
                code: RpcErrorCode::NotSupported,
                description: "the simulator does not support FlyToTheMoon".into()
            }
        );
        // 1.6-only actions are unknown to a 2.0.1 charger.
        assert!(matches!(
            answer(
                v201,
                ReplyPolicy::Accept,
                "GetConfiguration",
                &json!({}),
                &mut state,
                &now
            ),
            Answer::Error {
                code: RpcErrorCode::NotSupported,
                ..
            }
        ));
    }
}
