//! `[upstream.mqtt]` (issue 12): the broker chargegate reports to and takes commands from.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Upstream {
    /// `[upstream.mqtt]`
    pub mqtt: Option<UpstreamMqtt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamMqtt {
    pub url: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<MqttPassword>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub topic_prefix: String,
    pub keep_alive_s: u16,
    pub telemetry_interval_s: u32,
    pub telemetry_retention_days: u32,
}

#[derive(Clone, PartialEq, Eq)]
pub enum MqttPassword {
    Inline(String),
    File(PathBuf),
}

impl std::fmt::Debug for MqttPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl UpstreamMqtt {
    pub fn password(&self) -> Result<Option<String>, String> {
        match &self.password {
            None => Ok(None),
            Some(MqttPassword::Inline(p)) => Ok(Some(p.clone())),
            Some(MqttPassword::File(path)) => std::fs::read_to_string(path)
                .map(|t| Some(t.lines().next().unwrap_or("").to_string()))
                .map_err(|e| format!("{}: {e}", path.display())),
        }
    }
}
