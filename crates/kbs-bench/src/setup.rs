//! `setup`: prepares a fresh KBS for a benchmark through the admin API (the SDK's admin
//! methods): stores the secret and replaces the resource policy with one that lets the
//! `sample` TEE read it.

use crate::{BenchError, BenchOptions};

/// The resource policy `setup` installs: every `resource` read by a token whose CPU submodule
/// carries `sample` evidence is allowed. It replaces the server's resource policy, so use it
/// only on a KBS kept for benchmarking.
pub const ALLOW_SAMPLE_POLICY: &str = r#"package policy
import rego.v1
default allow := false
allow if {
    data.plugin == "resource"
    input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
"#;

/// Stores `options.expected_secret` at `options.resource` and installs
/// [`ALLOW_SAMPLE_POLICY`], authenticating with the admin key at `options.admin_key`.
pub async fn setup(options: &BenchOptions) -> Result<(), BenchError> {
    let key_path = options
        .admin_key
        .as_ref()
        .ok_or_else(|| BenchError::Options("setup needs --admin-key".to_owned()))?;
    let secret = options.expected_secret.as_deref().ok_or_else(|| {
        BenchError::Options("setup needs the secret (--expect-file or --expect-b64)".to_owned())
    })?;
    let pem = std::fs::read_to_string(key_path).map_err(|source| BenchError::ReadFile {
        path: key_path.display().to_string(),
        source,
    })?;
    let key =
        kbs_client::jose::SigningKey::from_pem(&pem).map_err(kbs_client::ClientError::from)?;
    let mut builder = kbs_client::KbsClient::builder(&options.url)
        .admin_signing_key(key)
        .no_proxy();
    if let Some(ca) = &options.cacert_pem {
        builder = builder.root_certificate_pem(ca.clone());
    }
    let client = builder.build()?;
    client.set_resource(&options.resource, secret).await?;
    client.set_resource_policy(ALLOW_SAMPLE_POLICY).await?;
    Ok(())
}
