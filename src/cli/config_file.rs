//! The config file as a whole: each service reads its section, validated at start-up.

use std::path::Path;

use anyhow::Context;
use gluey_dispatcher::config::CustomerSection;
use gluey_ingest::CarrierPushSection;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Carrier credentials for pushes.
    #[serde(default)]
    pub carriers: CarrierPushSection,
    /// Customers and their delivery endpoints.
    #[serde(default)]
    pub customers: Vec<CustomerSection>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let file: ConfigFile = gluey_ops::load_config_file(path)?;
        file.carriers
            .validate()
            .with_context(|| format!("config file {}", path.display()))?;
        // The dispatcher applies its own address policy (loopback only with its command-line
        // switch); every other address check holds for any service reading the file.
        let permissive = gluey_dispatcher::ssrf::AddressPolicy {
            require_https: false,
            allow_loopback: true,
        };
        gluey_dispatcher::config::endpoints(&file.customers, &permissive)
            .with_context(|| format!("config file {}", path.display()))?;
        Ok(file)
    }
}
