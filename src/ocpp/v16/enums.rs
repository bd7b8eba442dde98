//! The closed string enumerations of OCPP 1.6 (§7) and of the 1.6 security extension, as
//! serde types.
//!
//! Owns only the wire spelling of each value: a value outside its enumeration fails to
//! deserialize with serde's "unknown variant" error, which `PayloadError::from_serde`
//! answers with PropertyConstraintViolation (OCPP-J 1.6 §4.2.3). It must never map values to
//! the model; that is `convert`'s and `commands`' job. `wire_enum!` is shared with 2.0.1.
//!
//! Naming, the same in 2.0.1: an enumeration that mirrors a model enum of the same meaning
//! is named after it with `Wire` (`ConnectorStatusWire` for ChargePointStatus, the model's
//! `ConnectorStatus`), so the pair is visible at a glance and no import renames; every
//! other keeps its spec name. Each doc comment gives the spec name and clause.

pub use crate::ocpp::wire_enum::WireEnum;
use crate::ocpp::wire_enum::wire_enum;

// ---- Charge point to central system -------------------------------------------------------

wire_enum! {
    /// OCPP 1.6 §7.6.
    ChargePointErrorCode {
        ConnectorLockFailure = "ConnectorLockFailure",
        EvCommunicationError = "EVCommunicationError",
        GroundFailure = "GroundFailure",
        HighTemperature = "HighTemperature",
        InternalError = "InternalError",
        LocalListConflict = "LocalListConflict",
        NoError = "NoError",
        OtherError = "OtherError",
        OverCurrentFailure = "OverCurrentFailure",
        PowerMeterFailure = "PowerMeterFailure",
        PowerSwitchFailure = "PowerSwitchFailure",
        ReaderFailure = "ReaderFailure",
        ResetFailure = "ResetFailure",
        UnderVoltage = "UnderVoltage",
        OverVoltage = "OverVoltage",
        WeakSignal = "WeakSignal",
    }
}

wire_enum! {
    /// ChargePointStatus, OCPP 1.6 §7.7.
    ConnectorStatusWire {
        Available = "Available",
        Preparing = "Preparing",
        Charging = "Charging",
        SuspendedEvse = "SuspendedEVSE",
        SuspendedEv = "SuspendedEV",
        Finishing = "Finishing",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.36, the reason in StopTransaction.req.
    Reason {
        EmergencyStop = "EmergencyStop",
        EvDisconnected = "EVDisconnected",
        HardReset = "HardReset",
        Local = "Local",
        Other = "Other",
        PowerLoss = "PowerLoss",
        Reboot = "Reboot",
        Remote = "Remote",
        SoftReset = "SoftReset",
        UnlockCommand = "UnlockCommand",
        DeAuthorized = "DeAuthorized",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.35.
    ReadingContext {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
        Other = "Other",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.49.
    ValueFormat {
        Raw = "Raw",
        SignedData = "SignedData",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.31.
    Measurand {
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        PowerFactor = "Power.Factor",
        CurrentImport = "Current.Import",
        CurrentExport = "Current.Export",
        CurrentOffered = "Current.Offered",
        Voltage = "Voltage",
        Frequency = "Frequency",
        Temperature = "Temperature",
        SoC = "SoC",
        Rpm = "RPM",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.34.
    Phase {
        L1 = "L1",
        L2 = "L2",
        L3 = "L3",
        N = "N",
        L1N = "L1-N",
        L2N = "L2-N",
        L3N = "L3-N",
        L1L2 = "L1-L2",
        L2L3 = "L2-L3",
        L3L1 = "L3-L1",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.30.
    Location {
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
        Body = "Body",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.45. `Celcius` is the spec's own misspelling, kept by edition 2 beside
    /// `Celsius`; `Hertz` is in the MeterValues schema (the StopTransaction schema lacks it,
    /// an inconsistency of the published schemas we do not reproduce).
    UnitOfMeasure {
        Wh = "Wh",
        KWh = "kWh",
        Varh = "varh",
        Kvarh = "kvarh",
        W = "W",
        Kw = "kW",
        Va = "VA",
        Kva = "kVA",
        Var = "var",
        Kvar = "kvar",
        A = "A",
        V = "V",
        K = "K",
        Celcius = "Celcius",
        Celsius = "Celsius",
        Fahrenheit = "Fahrenheit",
        Percent = "Percent",
        Hertz = "Hertz",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.24.
    DiagnosticsStatus {
        Idle = "Idle",
        Uploaded = "Uploaded",
        UploadFailed = "UploadFailed",
        Uploading = "Uploading",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.25.
    FirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
    }
}

wire_enum! {
    /// OCPP 1.6 security whitepaper §7 UploadLogStatusEnumType (LogStatusNotification).
    UploadLogStatus {
        BadMessage = "BadMessage",
        Idle = "Idle",
        NotSupportedOperation = "NotSupportedOperation",
        PermissionDenied = "PermissionDenied",
        Uploaded = "Uploaded",
        UploadFailure = "UploadFailure",
        Uploading = "Uploading",
    }
}

wire_enum! {
    /// OCPP 1.6 security whitepaper FirmwareStatusEnumType (SignedFirmwareStatusNotification).
    SignedFirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        DownloadScheduled = "DownloadScheduled",
        DownloadPaused = "DownloadPaused",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
        InstallRebooting = "InstallRebooting",
        InstallScheduled = "InstallScheduled",
        InstallVerificationFailed = "InstallVerificationFailed",
        InvalidSignature = "InvalidSignature",
        SignatureVerified = "SignatureVerified",
    }
}

// ---- Central system to charge point -------------------------------------------------------

wire_enum! {
    /// RegistrationStatus, OCPP 1.6 §7.38.
    RegistrationStatusWire {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// AuthorizationStatus, OCPP 1.6 §7.2.
    AuthorizationStatusWire {
        Accepted = "Accepted",
        Blocked = "Blocked",
        Expired = "Expired",
        Invalid = "Invalid",
        ConcurrentTx = "ConcurrentTx",
    }
}

wire_enum! {
    /// DataTransferStatus, OCPP 1.6 §7.23.
    DataTransferStatusWire {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
}

wire_enum! {
    /// ResetType, OCPP 1.6 §7.42.
    ResetKindWire {
        Hard = "Hard",
        Soft = "Soft",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.4.
    AvailabilityType {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
}

wire_enum! {
    /// MessageTrigger, OCPP 1.6 §7.32, the requestedMessage of TriggerMessage.req.
    TriggerKindWire {
        BootNotification = "BootNotification",
        DiagnosticsStatusNotification = "DiagnosticsStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        StatusNotification = "StatusNotification",
    }
}

wire_enum! {
    /// ChargingProfilePurposeType, OCPP 1.6 §7.10.
    ProfilePurposeWire {
        ChargePointMax = "ChargePointMaxProfile",
        TxDefault = "TxDefaultProfile",
        Tx = "TxProfile",
    }
}

wire_enum! {
    /// ChargingProfileKindType, OCPP 1.6 §7.9.
    ProfileKindWire {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.37.
    RecurrencyKind {
        Daily = "Daily",
        Weekly = "Weekly",
    }
}

wire_enum! {
    /// ChargingRateUnitType, OCPP 1.6 §7.12.
    RateUnitWire {
        A = "A",
        W = "W",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.48.
    UpdateType {
        Differential = "Differential",
        Full = "Full",
    }
}

// ---- Statuses in the charge point's answers (.conf) ---------------------------------------

wire_enum! {
    /// OCPP 1.6 §7.39 (RemoteStartTransaction.conf, RemoteStopTransaction.conf).
    RemoteStartStopStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.41.
    ResetStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.46.
    UnlockStatus {
        Unlocked = "Unlocked",
        UnlockFailed = "UnlockFailed",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.3.
    AvailabilityStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.22.
    ConfigurationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        RebootRequired = "RebootRequired",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.44.
    TriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.11.
    ChargingProfileStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.21.
    ClearChargingProfileStatus {
        Accepted = "Accepted",
        Unknown = "Unknown",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.26.
    GetCompositeScheduleStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.40.
    ReservationStatus {
        Accepted = "Accepted",
        Faulted = "Faulted",
        Occupied = "Occupied",
        Rejected = "Rejected",
        Unavailable = "Unavailable",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.5.
    CancelReservationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.10.
    ClearCacheStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// OCPP 1.6 §7.47 (SendLocalList.conf).
    UpdateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotSupported = "NotSupported",
        VersionMismatch = "VersionMismatch",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn serde_and_as_str_agree_on_the_spelling() {
        let cases: [(Value, &str); 5] = [
            (json!(ConnectorStatusWire::SuspendedEvse), "SuspendedEVSE"),
            (
                json!(Measurand::EnergyActiveImportRegister),
                "Energy.Active.Import.Register",
            ),
            (json!(Phase::L3L1), "L3-L1"),
            (
                json!(ChargePointErrorCode::EvCommunicationError),
                "EVCommunicationError",
            ),
            (json!(UnitOfMeasure::KWh), "kWh"),
        ];
        for (value, want) in cases {
            assert_eq!(value, json!(want));
        }
        assert_eq!(ConnectorStatusWire::SuspendedEvse.as_str(), "SuspendedEVSE");
        assert_eq!(Phase::L3L1.as_str(), "L3-L1");
        assert_eq!(
            ReadingContext::TransactionBegin.as_str(),
            "Transaction.Begin"
        );
    }

    #[test]
    fn values_outside_the_enumeration_are_refused() {
        let err = serde_json::from_value::<ConnectorStatusWire>(json!("Occupied")).unwrap_err();
        assert!(err.to_string().starts_with("unknown variant"), "{err}");
        // Case matters: the 1.6 enumerations are case-sensitive strings.
        assert!(serde_json::from_value::<ResetKindWire>(json!("hard")).is_err());
        assert_eq!(
            serde_json::from_value::<Location>(json!("EV")).unwrap(),
            Location::Ev
        );
    }
}
