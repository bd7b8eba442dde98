//! The version-blind vocabulary between a charger connection and the rest of chargegate.
//!
//! `ocpp::v16` and `ocpp::v201` translate their wire messages into these types and back;
//! nothing above `ocpp/` ever sees a version-specific payload (STYLE.md §3). These are domain
//! types: no serde here (STYLE.md §2). A field exists only if some version carries it; a
//! version that lacks it leaves it `None`.

use chrono::{DateTime, Utc};

mod commands;
pub use commands::*;

/// Which OCPP-J version a connection speaks, negotiated by WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OcppVersion {
    V16,
    V201,
}

impl OcppVersion {
    /// Server preference order: the highest version both sides support wins.
    pub const PREFERENCE: [OcppVersion; 2] = [OcppVersion::V201, OcppVersion::V16];

    /// The WebSocket subprotocol token (OCPP-J 1.6 §3.1.2, OCPP 2.0.1 Part 4 §3.1.2).
    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
        }
    }

    pub fn from_subprotocol(token: &str) -> Option<Self> {
        Self::PREFERENCE
            .into_iter()
            .find(|v| v.subprotocol() == token)
    }
}

/// An EVSE (2.0.1) or connector (1.6). In 1.6 `evse_id` is the connectorId and
/// `connector_id` is `None`; id 0 means the whole charging station in both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EvseRef {
    pub evse_id: u32,
    pub connector_id: Option<u32>,
}

/// An identification token presented by a driver (RFID card, app, key...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdToken {
    /// 1.6 idTag (CiString20), 2.0.1 idToken.idToken (identifierString 36).
    pub id: String,
    /// 2.0.1 IdTokenEnumType (`ISO14443`, `Central`, ...); `None` for 1.6.
    pub kind: Option<String>,
}

/// The union of 1.6 AuthorizationStatus and 2.0.1 AuthorizationStatusEnumType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    Accepted,
    Blocked,
    Expired,
    Invalid,
    ConcurrentTx,
    /// 2.0.1 only; 1.6 encodes it as `Invalid`.
    Unknown,
}

/// What the CSMS says about an id token (1.6 IdTagInfo, 2.0.1 IdTokenInfoType).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenInfo {
    pub status: AuthorizationStatus,
    pub expiry: Option<DateTime<Utc>>,
    pub group_id: Option<String>,
}

impl IdTokenInfo {
    pub fn status(status: AuthorizationStatus) -> Self {
        Self {
            status,
            expiry: None,
            group_id: None,
        }
    }
}

/// Connector status, the union of 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorStatus {
    Available,
    Preparing,
    Charging,
    SuspendedEv,
    SuspendedEvse,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
    /// 2.0.1 only: a cable is plugged in (1.6 reports Preparing/Charging/... instead).
    Occupied,
}

impl ConnectorStatus {
    /// The name used in the store, the API and logs (1.6 spelling where both exist).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorStatus::Available => "Available",
            ConnectorStatus::Preparing => "Preparing",
            ConnectorStatus::Charging => "Charging",
            ConnectorStatus::SuspendedEv => "SuspendedEV",
            ConnectorStatus::SuspendedEvse => "SuspendedEVSE",
            ConnectorStatus::Finishing => "Finishing",
            ConnectorStatus::Reserved => "Reserved",
            ConnectorStatus::Unavailable => "Unavailable",
            ConnectorStatus::Faulted => "Faulted",
            ConnectorStatus::Occupied => "Occupied",
        }
    }
}

/// The largest magnitude a sampled value may have, in the unit it came in. No charger's
/// meter reads 10^15 of what it reports (1 PWh, 1 PW, 1 PA; the Modbus side has the same
/// bound on energy registers, `meter::decode`). Both versions refuse a value beyond it at
/// the parse boundary, NaN and infinity included, so that a value stays finite when the
/// session layer scales it to base units (kWh -> Wh: x 1000; 1e306 kWh would be infinite).
pub const MAX_SAMPLE_MAGNITUDE: f64 = 1e15;

/// One sampled value, from 1.6 SampledValue or 2.0.1 SampledValueType.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSample {
    pub timestamp: DateTime<Utc>,
    /// e.g. `Energy.Active.Import.Register` (the default in both versions), `Current.Import`.
    pub measurand: String,
    /// `L1`, `L2`, `L3`, `N`, `L1-N`, ... or `None` for a total.
    pub phase: Option<String>,
    /// The value scaled to the base unit given in `unit` (a 1.6 `kWh` value stays `kWh`;
    /// the session layer normalises units). Finite, at most `MAX_SAMPLE_MAGNITUDE`.
    pub value: f64,
    /// `Wh`, `kWh`, `A`, `W`, `V`, ... (1.6 unit / 2.0.1 unitOfMeasure.unit, multiplier applied).
    pub unit: Option<String>,
    /// `Sample.Periodic`, `Transaction.Begin`, ...
    pub context: Option<String>,
    /// `Outlet`, `EV`, `Inlet`, ...
    pub location: Option<String>,
}

/// A signed meter reading, kept verbatim for billing (German calibration law and the
/// like): 1.6 a SampledValue with `format: SignedData` (its `value` is the signed text,
/// §7.49), 2.0.1 a sampledValue's `signedMeterValue` (2.0.1 SignedMeterValueType; e.g.
/// OCMF). chargegate never interprets `data`; a billing backend verifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedReading {
    pub timestamp: DateTime<Utc>,
    pub measurand: String,
    pub context: Option<String>,
    pub phase: Option<String>,
    pub location: Option<String>,
    /// 2.0.1: the plain value the signature covers, in the unit sent (multiplier applied);
    /// `None` for 1.6, whose signed value has no plain value beside it in the same entry.
    pub value: Option<f64>,
    /// 1.6 `value`, 2.0.1 `signedMeterData`, as sent.
    pub data: String,
    /// 2.0.1 `signingMethod`, `encodingMethod`, `publicKey` (1.6: `None`).
    pub signing_method: Option<String>,
    pub encoding_method: Option<String>,
    pub public_key: Option<String>,
}

/// The step a limit is written in on the wire, A or W: OCPP 1.6 allows "at most one digit
/// fraction" (§7.13, §7.14), the 2.0.1 schemas say `multipleOf 0.1`. Limits are rounded down
/// to it with `units::floor_limit` (S1: never above the limit decided).
pub const WIRE_STEP: f64 = 0.1;

/// How a charger names a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxKey {
    /// 1.6: the integer the CSMS assigned in StartTransaction.conf.
    Csms(i64),
    /// 2.0.1: the identifierString the charging station chose.
    Charger(String),
}

/// The phase of a transaction an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxPhase {
    Started,
    Updated,
    Ended,
}

/// A transaction event: 1.6 StartTransaction / StopTransaction, 2.0.1 TransactionEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionEvent {
    pub phase: TxPhase,
    /// `None` only for a 1.6 StartTransaction (the CSMS assigns the id in its reply).
    pub tx: Option<TxKey>,
    /// 2.0.1 seqNo: with `tx` it makes a resent event recognisable.
    pub seq_no: Option<u32>,
    pub evse: Option<EvseRef>,
    pub id_token: Option<IdToken>,
    pub timestamp: DateTime<Utc>,
    /// 1.6 meterStart / meterStop, in Wh.
    pub meter_wh: Option<f64>,
    /// 1.6 StopTransaction reason, 2.0.1 transactionInfo.stoppedReason.
    pub stop_reason: Option<String>,
    /// 2.0.1 triggerReason.
    pub trigger_reason: Option<String>,
    /// 2.0.1 transactionInfo.chargingState.
    pub charging_state: Option<String>,
    /// 2.0.1 offline: the event happened while the charger was offline.
    pub offline: bool,
    pub reservation_id: Option<i32>,
    /// 1.6 transactionData, 2.0.1 meterValue.
    pub samples: Vec<MeterSample>,
    /// The signed readings among them, verbatim.
    pub signed: Vec<SignedReading>,
}

impl TransactionEvent {
    /// An event of `phase` with its key and time and nothing else: what a caller that
    /// needs a few more fields starts from (`..TransactionEvent::bare(..)`).
    pub fn bare(phase: TxPhase, tx: Option<TxKey>, timestamp: DateTime<Utc>) -> Self {
        Self {
            phase,
            tx,
            seq_no: None,
            evse: None,
            id_token: None,
            timestamp,
            meter_wh: None,
            stop_reason: None,
            trigger_reason: None,
            charging_state: None,
            offline: false,
            reservation_id: None,
            samples: Vec::new(),
            signed: Vec::new(),
        }
    }
}

/// 2.0.1 NotifyEVChargingNeeds: what the vehicle says it needs (ISO 15118).
#[derive(Debug, Clone, PartialEq)]
pub struct EvChargingNeeds {
    pub evse_id: u32,
    pub departure_time: Option<DateTime<Utc>>,
    /// energyAmount, in Wh.
    pub energy_wh: Option<f64>,
    /// evMaxCurrent (AC), in A.
    pub max_current_a: Option<f64>,
    /// evMinCurrent (AC), in A.
    pub min_current_a: Option<f64>,
    /// requestedEnergyTransfer, e.g. `AC_three_phase`.
    pub energy_transfer: String,
}

/// One component/variable value from a 2.0.1 NotifyReport, or a 1.6 configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedVariable {
    pub component: String,
    pub variable: String,
    pub value: Option<String>,
}

/// Everything a charger can tell chargegate (charger-to-CSMS CALLs).
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerEvent {
    Boot {
        vendor: String,
        model: String,
        serial: Option<String>,
        firmware: Option<String>,
        /// 2.0.1 BootReasonEnumType; `None` for 1.6.
        reason: Option<String>,
    },
    Heartbeat,
    Status {
        evse: EvseRef,
        status: ConnectorStatus,
        /// 1.6 errorCode (`NoError` when fine); `None` for 2.0.1.
        error_code: Option<String>,
        info: Option<String>,
        /// 1.6 vendorErrorCode, the maker's own code (what an electrician looks up in the
        /// charger's manual); `None` for 2.0.1.
        vendor_error_code: Option<String>,
        timestamp: Option<DateTime<Utc>>,
    },
    Authorize {
        id_token: IdToken,
    },
    Transaction(TransactionEvent),
    MeterValues {
        evse_id: u32,
        tx: Option<TxKey>,
        samples: Vec<MeterSample>,
        /// The signed readings among them, verbatim.
        signed: Vec<SignedReading>,
    },
    DataTransfer {
        vendor_id: String,
        message_id: Option<String>,
        data: Option<String>,
    },
    /// 1.6 DiagnosticsStatusNotification, 2.0.1 LogStatusNotification.
    DiagnosticsStatus {
        status: String,
        request_id: Option<i32>,
    },
    FirmwareStatus {
        status: String,
        request_id: Option<i32>,
    },
    /// 2.0.1 NotifyReport (the answer to GetBaseReport, possibly in parts).
    Report {
        request_id: i32,
        seq_no: u32,
        more_to_follow: bool,
        variables: Vec<ReportedVariable>,
    },
    EvChargingNeeds(EvChargingNeeds),
    /// 2.0.1 NotifyChargingLimit: a limit set by someone else (e.g. the grid operator).
    ChargingLimit {
        evse_id: Option<u32>,
        source: String,
        grid_critical: Option<bool>,
    },
    /// 2.0.1 ReportChargingProfiles (the answer to GetChargingProfiles).
    ChargingProfilesReport {
        request_id: i32,
        evse_id: u32,
        source: String,
        profiles: Vec<ChargingProfile>,
        more_to_follow: bool,
    },
    SecurityEvent {
        kind: String,
        timestamp: DateTime<Utc>,
        tech_info: Option<String>,
    },
    /// 2.0.1 NotifyEvent, summarised: one entry per reported event.
    Notify {
        events: Vec<NotifiedEvent>,
    },
    /// 2.0.1 ReservationStatusUpdate (H04): the station ended a reservation itself.
    ReservationStatus {
        reservation_id: i32,
        update: ReservationUpdate,
    },
    /// 2.0.1 SignCertificate (A02/A03): the station asks for a certificate for its key.
    SignCertificate {
        /// The PKCS#10 request, PEM, as sent (at most 5500 characters).
        csr: String,
        /// CertificateSigningUseEnumType; absent means ChargingStationCertificate.
        kind: Option<String>,
    },
    /// 2.0.1 NotifyCustomerInformation (N09/N10): one part of the answer to
    /// CustomerInformation.
    CustomerInformation {
        request_id: i32,
        seq_no: u32,
        more_to_follow: bool,
        /// At most 512 characters per part.
        data: String,
    },
}

/// 2.0.1 ReservationUpdateStatusEnumType: why a station ended a reservation (H04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationUpdate {
    /// Its expiry time passed (H04.FR.01).
    Expired,
    /// The station removed it, e.g. its EVSE became Inoperative (H04.FR.02).
    Removed,
}

/// One event of a 2.0.1 NotifyEvent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedEvent {
    pub component: String,
    pub variable: String,
    pub trigger: String,
    pub actual_value: String,
    pub tech_info: Option<String>,
}

/// 1.6 RegistrationStatus / 2.0.1 RegistrationStatusEnumType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationStatus {
    Accepted,
    Pending,
    Rejected,
}

/// 1.6 DataTransferStatus / 2.0.1 DataTransferStatusEnumType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTransferStatus {
    Accepted,
    Rejected,
    UnknownMessageId,
    UnknownVendorId,
}

/// chargegate's answer to a `ChargerEvent`. The version layer turns it into the
/// CALLRESULT of the action that carried the event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventReply {
    Boot {
        status: RegistrationStatus,
        current_time: DateTime<Utc>,
        /// Heartbeat interval, or retry interval when not accepted, in seconds.
        interval_s: u32,
    },
    Heartbeat {
        current_time: DateTime<Utc>,
    },
    Authorize {
        info: IdTokenInfo,
    },
    Transaction {
        /// 1.6 StartTransaction.conf transactionId; `None` otherwise.
        transaction_id: Option<i64>,
        /// Present when the event carried an id token.
        info: Option<IdTokenInfo>,
    },
    DataTransfer {
        status: DataTransferStatus,
        data: Option<String>,
    },
    /// 2.0.1 NotifyEVChargingNeeds: Accepted (we will plan for it) or Rejected.
    EvChargingNeeds {
        accepted: bool,
    },
    /// 2.0.1 SignCertificate: Accepted (a CertificateSigned follows) or Rejected.
    SignCertificate {
        accepted: bool,
    },
    /// The action's response has no content (`{}`).
    Empty,
}
