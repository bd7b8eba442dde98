//! What chargegate asks a charger (`ChargerCommand`) and what the charger answers
//! (`CommandReply`), version-blind like the rest of `model`: the smart-charging profile,
//! the operator's remote control, configuration, local list, firmware, logs, certificates.

use chrono::{DateTime, Utc};

use super::{EvseRef, IdToken, IdTokenInfo, TxKey};

/// What a ChargingProfile is for (1.6 ChargingProfilePurposeType; 2.0.1 calls the first
/// one ChargingStationMaxProfile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfilePurpose {
    ChargePointMax,
    TxDefault,
    Tx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Absolute,
    Recurring,
    Relative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Amps,
    Watts,
}

/// One period of a charging schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePeriod {
    /// Offset from the schedule start, in seconds.
    pub start_s: u32,
    /// In the schedule's rate unit, per phase for A, total for W.
    pub limit: f64,
    pub phases: Option<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChargingSchedule {
    pub start: Option<DateTime<Utc>>,
    pub duration_s: Option<u32>,
    pub rate_unit: RateUnit,
    pub periods: Vec<SchedulePeriod>,
    pub min_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChargingProfile {
    pub id: i32,
    pub stack_level: u32,
    pub purpose: ProfilePurpose,
    pub kind: ProfileKind,
    /// Daily or weekly, for `Recurring` only.
    pub recurrency_weekly: Option<bool>,
    /// Only for `Tx` profiles.
    pub tx: Option<TxKey>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub schedule: ChargingSchedule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// 1.6 Soft, 2.0.1 OnIdle.
    Soft,
    /// 1.6 Hard, 2.0.1 Immediate.
    Hard,
}

/// A message a charger can be asked to send (TriggerMessage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    BootNotification,
    Heartbeat,
    MeterValues,
    StatusNotification,
    FirmwareStatusNotification,
    DiagnosticsStatusNotification,
    /// 2.0.1 only.
    TransactionEvent,
    /// 2.0.1 only (A02): the station sends a SignCertificate for a new certificate.
    SignChargingStationCertificate,
}

/// A configuration key: 1.6 uses only `variable` (the key name); 2.0.1 a component and a
/// variable of the device model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub component: Option<String>,
    pub variable: String,
}

/// One entry of a local authorization list.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalListEntry {
    pub id_token: IdToken,
    /// `None` removes the entry in a differential update.
    pub info: Option<IdTokenInfo>,
}

/// Everything chargegate can ask a charger to do (CSMS-to-charger CALLs). The dispatch,
/// HTTP API and upstream layers build these; the version layer refuses the ones its
/// version lacks with `EncodeError::NotInVersion`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerCommand {
    RemoteStart {
        evse_id: Option<u32>,
        id_token: IdToken,
        profile: Option<ChargingProfile>,
        /// 2.0.1 remoteStartId; ignored by 1.6.
        remote_start_id: i32,
    },
    RemoteStop {
        tx: TxKey,
    },
    Reset {
        kind: ResetKind,
        /// 2.0.1: only this EVSE (B11/B12 per-EVSE reset); `None` the whole station. 1.6
        /// resets only the whole charge point and refuses an EVSE with `NotInVersion`.
        evse_id: Option<u32>,
    },
    UnlockConnector {
        evse: EvseRef,
    },
    ChangeAvailability {
        /// `None` or id 0: the whole charging station.
        evse: Option<EvseRef>,
        operative: bool,
    },
    GetConfiguration {
        /// Empty: every key the charger has (1.6 GetConfiguration without keys).
        keys: Vec<ConfigKey>,
    },
    SetConfiguration {
        key: ConfigKey,
        value: String,
    },
    /// 2.0.1 GetBaseReport; 1.6 answers with `NotInVersion`.
    GetBaseReport {
        request_id: i32,
        /// `ConfigurationInventory`, `FullInventory` or `SummaryInventory`.
        report: String,
    },
    Trigger {
        message: TriggerKind,
        evse_id: Option<u32>,
    },
    SetChargingProfile {
        /// 0: the whole station (ChargePointMax / station-wide TxDefault).
        evse_id: u32,
        profile: ChargingProfile,
    },
    ClearChargingProfile {
        id: Option<i32>,
        evse_id: Option<u32>,
        purpose: Option<ProfilePurpose>,
        stack_level: Option<u32>,
    },
    /// 2.0.1 GetChargingProfiles; 1.6 answers with `NotInVersion`.
    GetChargingProfiles {
        request_id: i32,
        evse_id: Option<u32>,
        purpose: Option<ProfilePurpose>,
    },
    GetCompositeSchedule {
        evse_id: u32,
        duration_s: u32,
        rate_unit: Option<RateUnit>,
    },
    ReserveNow {
        reservation_id: i32,
        /// `None`: any EVSE of the charger (1.6 connectorId 0, 2.0.1 no evseId).
        evse_id: Option<u32>,
        expiry: DateTime<Utc>,
        id_token: IdToken,
        /// A group reservation: every card of this group may use it (1.6 parentIdTag,
        /// 2.0.1 groupIdToken).
        group_id: Option<String>,
    },
    CancelReservation {
        reservation_id: i32,
    },
    SendLocalList {
        version: i32,
        full: bool,
        entries: Vec<LocalListEntry>,
    },
    GetLocalListVersion,
    /// The charger forgets its authorization cache (1.6 §5.4, 2.0.1 C11).
    ClearCache,
    /// A vendor-specific message (1.6 §5.6, 2.0.1 P01). 1.6 `data` is text: a JSON value
    /// other than a string is sent as its JSON text.
    DataTransfer {
        vendor_id: String,
        message_id: Option<String>,
        data: Option<serde_json::Value>,
    },
    /// A firmware update from `location` (1.6 §5.19 UpdateFirmware; 2.0.1 L01/L02, signed
    /// firmware). 1.6 refuses what it cannot carry (`install_at`, a certificate or a
    /// signature) with `NotInVersion`: a signed update sent unsigned is another update.
    UpdateFirmware {
        /// 2.0.1 requestId, echoed in FirmwareStatusNotification; ignored by 1.6.
        request_id: i32,
        /// An absolute URL the charger downloads from (http, https, ftp, ftps, sftp).
        location: String,
        retrieve_at: DateTime<Utc>,
        /// 2.0.1 only.
        install_at: Option<DateTime<Utc>>,
        /// 2.0.1 only: the PEM certificate the firmware was signed with, and the signature
        /// (base64).
        signing_certificate: Option<String>,
        signature: Option<String>,
        /// How often and how far apart (s) the charger retries the download.
        retries: Option<u32>,
        retry_interval_s: Option<u32>,
    },
    /// A log upload to `location` (1.6 §5.8 GetDiagnostics; 2.0.1 N01 GetLog). 1.6 has no
    /// security log (`NotInVersion`).
    GetLog {
        /// 2.0.1 requestId, echoed in LogStatusNotification; ignored by 1.6.
        request_id: i32,
        /// 2.0.1 SecurityLog; `false` is the diagnostics log.
        security: bool,
        location: String,
    },
    /// 2.0.1 GetTransactionStatus (E14): is this transaction (or, with `None`, any) still
    /// ongoing, and has the station messages for it queued? 1.6: `NotInVersion`.
    GetTransactionStatus {
        /// The station's transactionId (identifierString, at most 36).
        tx: Option<String>,
    },
    /// 2.0.1 SetNetworkProfile (B09): a connection profile stored in a slot of the
    /// station's NetworkConfigurationPriority. 1.6: `NotInVersion`.
    SetNetworkProfile {
        slot: i32,
        profile: NetworkProfile,
    },
    /// 2.0.1 GetInstalledCertificateIds (M03); empty `kinds`: every type.
    GetInstalledCertificateIds {
        /// GetCertificateIdUseEnumType words, e.g. `CSMSRootCertificate`.
        kinds: Vec<String>,
    },
    /// 2.0.1 InstallCertificate (M05): a root certificate, PEM.
    InstallCertificate {
        /// InstallCertificateUseEnumType, e.g. `CSMSRootCertificate`.
        kind: String,
        pem: String,
    },
    /// 2.0.1 DeleteCertificate (M04), named by the hash data the charger reported.
    DeleteCertificate {
        hash: CertificateHash,
    },
    /// 2.0.1 CertificateSigned (A02/A03): the certificate signed for the station's CSR.
    CertificateSigned {
        /// PEM, the leaf first, then the CA (at most 10000 characters).
        chain: String,
        /// CertificateSigningUseEnumType, as the station asked.
        kind: Option<String>,
    },
    /// 2.0.1 CustomerInformation (N09/N10): report and/or clear what the station keeps
    /// about one customer.
    CustomerInformation {
        request_id: i32,
        report: bool,
        clear: bool,
        customer: Customer,
    },
    /// A cloud CSMS's CALL relayed as it came (the Local Controller, `upstream::ocpp`):
    /// `action` is one the charger's version has (`relay_action`), the payload is the
    /// cloud's; the answer comes back unread as `CommandReply::Relayed`.
    Relay {
        action: &'static str,
        payload: serde_json::Value,
    },
}

/// Whom a CustomerInformation is about (N09.FR.09: exactly one when report or clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Customer {
    /// An id token with its 2.0.1 IdTokenEnumType.
    IdToken(IdToken),
    /// The station's own customer identifier (at most 64 characters).
    Identifier(String),
    /// A customer certificate, by its hash data.
    Certificate(CertificateHash),
}

/// 2.0.1 CertificateHashDataType: how a station names an installed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateHash {
    /// `SHA256`, `SHA384` or `SHA512`.
    pub algorithm: String,
    /// Hex.
    pub issuer_name_hash: String,
    pub issuer_key_hash: String,
    /// Hex, without leading zeros.
    pub serial: String,
}

/// One entry of a GetInstalledCertificateIds answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCertificate {
    /// GetCertificateIdUseEnumType.
    pub kind: String,
    pub hash: CertificateHash,
    /// The rest of a V2G chain (at most 4).
    pub children: Vec<CertificateHash>,
}

/// A 2.0.1 NetworkConnectionProfileType as chargegate sends it: OCPP 2.0 over JSON (the
/// only transport and version a 2.0.1 station can be told to use with this CSMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkProfile {
    /// The CSMS URL, `ws://` or `wss://` (at most 512 characters).
    pub url: String,
    /// 0 to 3 (Part 2 A00.FR: 1 Basic auth over ws, 2 TLS + Basic auth, 3 TLS + client
    /// certificate; 0 none).
    pub security_profile: u8,
    /// OCPPInterfaceEnumType: `Wired0`..`Wired3`, `Wireless0`..`Wireless3`.
    pub interface: String,
    /// messageTimeout, in seconds.
    pub message_timeout_s: u32,
}

impl ChargerCommand {
    /// A short name for logs, the audit log and metrics (1.6 action names where both exist).
    pub fn name(&self) -> &'static str {
        match self {
            ChargerCommand::RemoteStart { .. } => "RemoteStart",
            ChargerCommand::RemoteStop { .. } => "RemoteStop",
            ChargerCommand::Reset { .. } => "Reset",
            ChargerCommand::UnlockConnector { .. } => "UnlockConnector",
            ChargerCommand::ChangeAvailability { .. } => "ChangeAvailability",
            ChargerCommand::GetConfiguration { .. } => "GetConfiguration",
            ChargerCommand::SetConfiguration { .. } => "SetConfiguration",
            ChargerCommand::GetBaseReport { .. } => "GetBaseReport",
            ChargerCommand::Trigger { .. } => "TriggerMessage",
            ChargerCommand::SetChargingProfile { .. } => "SetChargingProfile",
            ChargerCommand::ClearChargingProfile { .. } => "ClearChargingProfile",
            ChargerCommand::GetChargingProfiles { .. } => "GetChargingProfiles",
            ChargerCommand::GetCompositeSchedule { .. } => "GetCompositeSchedule",
            ChargerCommand::ReserveNow { .. } => "ReserveNow",
            ChargerCommand::CancelReservation { .. } => "CancelReservation",
            ChargerCommand::SendLocalList { .. } => "SendLocalList",
            ChargerCommand::GetLocalListVersion => "GetLocalListVersion",
            ChargerCommand::ClearCache => "ClearCache",
            ChargerCommand::DataTransfer { .. } => "DataTransfer",
            ChargerCommand::UpdateFirmware { .. } => "UpdateFirmware",
            ChargerCommand::GetLog { .. } => "GetDiagnostics",
            ChargerCommand::GetTransactionStatus { .. } => "GetTransactionStatus",
            ChargerCommand::SetNetworkProfile { .. } => "SetNetworkProfile",
            ChargerCommand::GetInstalledCertificateIds { .. } => "GetInstalledCertificateIds",
            ChargerCommand::InstallCertificate { .. } => "InstallCertificate",
            ChargerCommand::DeleteCertificate { .. } => "DeleteCertificate",
            ChargerCommand::CertificateSigned { .. } => "CertificateSigned",
            ChargerCommand::CustomerInformation { .. } => "CustomerInformation",
            ChargerCommand::Relay { action, .. } => action,
        }
    }
}

/// A configuration value as a charger reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub key: ConfigKey,
    pub value: Option<String>,
    pub readonly: bool,
}

/// A charger's answer to a `ChargerCommand`.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandReply {
    /// Most commands: a status enum. `accepted` is true for the `POSITIVE_STATUSES`
    /// (see `CommandReply::from_status`); `status` is the charger's word, kept for the
    /// audit log.
    Status { status: String, accepted: bool },
    /// GetConfiguration / GetVariables.
    Configuration {
        values: Vec<ConfigValue>,
        unknown: Vec<ConfigKey>,
    },
    /// GetCompositeSchedule.
    CompositeSchedule {
        accepted: bool,
        schedule: Option<ChargingSchedule>,
    },
    /// GetLocalListVersion.
    LocalListVersion(i32),
    /// The answer to a `ChargerCommand::Relay`, as the charger sent it.
    Relayed(serde_json::Value),
    /// DataTransfer: the status word and the charger's data, if it sent any.
    DataTransfer {
        status: String,
        accepted: bool,
        data: Option<serde_json::Value>,
    },
    /// GetDiagnostics / GetLog: the status word (1.6 has none: `Accepted`) and the name of
    /// the file the charger will upload, if it said (1.6: none when it has no diagnostics).
    Log {
        status: String,
        accepted: bool,
        file_name: Option<String>,
    },
    /// GetTransactionStatus (E14): `ongoing` is absent when the request named no
    /// transaction.
    TransactionStatus {
        ongoing: Option<bool>,
        messages_in_queue: bool,
    },
    /// GetInstalledCertificateIds: `Accepted` with the list, or `NotFound`.
    InstalledCertificates {
        status: String,
        certificates: Vec<InstalledCertificate>,
    },
}

/// The status words that mean the charger did, or will do, what was asked; the same words
/// with the same meaning in both versions: `Accepted`; `Scheduled`, done once the
/// transaction ends (1.6 §7.3 AvailabilityStatus; 2.0.1 ChangeAvailabilityStatusEnumType
/// and ResetStatusEnumType); `Unlocked` (1.6 §7.46, 2.0.1 UnlockStatusEnumType);
/// `RebootRequired`, stored and effective after a reboot (1.6 §7.22 ConfigurationStatus,
/// 2.0.1 SetVariableStatusEnumType). Every other word is a refusal.
pub const POSITIVE_STATUSES: &[&str] = &["Accepted", "Scheduled", "Unlocked", "RebootRequired"];

impl CommandReply {
    /// The reply to a command answered with the status word `status`.
    pub fn from_status(status: &str) -> Self {
        CommandReply::Status {
            status: status.to_string(),
            accepted: POSITIVE_STATUSES.contains(&status),
        }
    }

    pub fn is_accepted(&self) -> bool {
        match self {
            CommandReply::Status { accepted, .. } => *accepted,
            CommandReply::Configuration { .. }
            | CommandReply::LocalListVersion(_)
            | CommandReply::TransactionStatus { .. }
            | CommandReply::InstalledCertificates { .. } => true,
            CommandReply::CompositeSchedule { accepted, .. } => *accepted,
            CommandReply::DataTransfer { accepted, .. } | CommandReply::Log { accepted, .. } => {
                *accepted
            }
            // The status word where the action has one (most do); none is no refusal.
            CommandReply::Relayed(payload) => payload
                .get("status")
                .and_then(serde_json::Value::as_str)
                .is_none_or(|status| POSITIVE_STATUSES.contains(&status)),
        }
    }
}
