//! Test support: validates OCPP payloads against the official JSON schemas in
//! `../shared/ocpp-schemas` (read in place, never copied: shared/ocpp-schemas/README.md).
//!
//! Compiled only for tests; integration tests include this file with `#[path]`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The schema file stem for a message: 1.6 names requests `Action.json` and responses
/// `ActionResponse.json`; 2.0.1 `ActionRequest.json` and `ActionResponse.json`.
pub fn schema_name(version: &str, action: &str, response: bool) -> String {
    match (version, response) {
        (_, true) => format!("{action}Response"),
        ("v16", false) => action.to_string(),
        (_, false) => format!("{action}Request"),
    }
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ocpp-schemas")
}

type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

fn validator(version: &str, stem: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = format!("{version}/{stem}");
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(&key) {
        return v.clone();
    }
    let path = schema_dir().join(version).join(format!("{stem}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read schema {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    let compiled = Arc::new(jsonschema::validator_for(&schema).expect("schema compiles"));
    cache.insert(key, compiled.clone());
    compiled
}

/// Validates `payload` as the request (or response) of `action` in `version` ("v16" or
/// "v201"); `Err` lists every violation.
pub fn validate(
    version: &str,
    action: &str,
    response: bool,
    payload: &Value,
) -> Result<(), String> {
    let stem = schema_name(version, action, response);
    let validator = validator(version, &stem);
    let errors: Vec<String> = validator
        .iter_errors(payload)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{version}/{stem}: {}\npayload: {payload}",
            errors.join("; ")
        ))
    }
}

/// Panics with every violation when `payload` does not fit its schema.
#[track_caller]
pub fn assert_valid(version: &str, action: &str, response: bool, payload: &Value) {
    if let Err(e) = validate(version, action, response, payload) {
        panic!("{e}");
    }
}
