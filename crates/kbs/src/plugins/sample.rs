//! The `sample` plugin (`kbs-protocol.md` §9.3): an admin-gated fixed answer, useful to check
//! that plugin routing and admin authentication work.

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::http::Method;
use serde::Deserialize;

use super::{AuthClass, Error, Plugin, PluginRequest};

/// The URL segment of this plugin.
pub const SAMPLE_PLUGIN_NAME: &str = "sample";

const SAMPLE_RESPONSE: &[u8] = b"sample plugin response";

/// `[[plugins]] name = "sample"` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplePluginConfig {
    /// Required by upstream's config schema; not used.
    pub item: String,
}

/// Answers every (admin-authorized) request with `sample plugin response`.
#[derive(Debug, Clone)]
pub struct SamplePlugin {
    _config: SamplePluginConfig,
}

impl SamplePlugin {
    /// The plugin with its (unused) configuration.
    pub fn new(config: SamplePluginConfig) -> Self {
        Self { _config: config }
    }
}

#[async_trait]
impl Plugin for SamplePlugin {
    fn name(&self) -> &str {
        SAMPLE_PLUGIN_NAME
    }

    fn validate_auth(
        &self,
        _method: &Method,
        _path: &[String],
        _query: &BTreeMap<String, String>,
    ) -> Result<AuthClass, Error> {
        Ok(AuthClass::Admin)
    }

    async fn handle(&self, _request: PluginRequest) -> Result<Vec<u8>, Error> {
        Ok(SAMPLE_RESPONSE.to_vec())
    }

    fn encrypted(&self, _request: &PluginRequest) -> bool {
        false
    }
}
