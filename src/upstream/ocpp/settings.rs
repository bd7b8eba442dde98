//! `LcSettings` from the site file (`[upstream.ocpp]`, `[[charger]] upstream-password`):
//! the password files read and the TLS client built at start, so a file that changed since
//! `validate` stops the start with its name instead of failing every connection.

use std::sync::Arc;
use std::time::Duration;

use super::LcSettings;
use crate::config::Config;

/// The Local Controller's settings, or `None` without `[upstream.ocpp]`.
pub fn from_config(config: &Config) -> Result<Option<LcSettings>, String> {
    let Some(ocpp) = &config.upstream.ocpp else {
        return Ok(None);
    };
    let tls = if ocpp.tls {
        let client = crate::upstream::options::client_tls(
            ocpp.ca_file.as_deref(),
            ocpp.client_cert_file.as_deref(),
            ocpp.client_key_file.as_deref(),
        )
        .map_err(|e| format!("[upstream.ocpp] {e}"))?;
        Some(Arc::new(client))
    } else {
        None
    };
    let mut chargers = std::collections::HashMap::new();
    for charger in &config.chargers {
        let password = charger
            .upstream_password()
            .map_err(|e| format!("[[charger]] {}: {e}", charger.id))?;
        chargers.insert(charger.id.clone(), password);
    }
    Ok(Some(LcSettings {
        url: ocpp.url.clone(),
        identity: ocpp.identity.clone(),
        version: ocpp.version,
        password: ocpp.password()?,
        tls,
        call_timeout: Duration::from_secs(u64::from(ocpp.call_timeout_s)),
        chargers,
    }))
}
