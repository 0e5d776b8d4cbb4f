//! `cca`: Arm CCA realms, attested by the CCA attestation token (verifiers spec §7).
//!
//! Evidence is `{"token": [u8, …]}` (also accepted serialised into a JSON string, as the
//! attester's text may arrive): a CBOR collection (tag 399, or the CMW tag 907) of the
//! platform token, a COSE_Sign1 by the platform's CPAK, and the realm token, a COSE_Sign1 by
//! the realm attestation key (RAK) that the platform token vouches for. [`verify`] checks,
//! in trust order:
//!
//! 1. the platform token's instance id names a configured CPAK trust anchor (whose
//!    implementation id must match too), and the platform token verifies with it;
//! 2. the realm token verifies with its RAK — a raw EC point in the legacy
//!    `http://arm.com/CCA-SSD/1.0.0` profile, a COSE_Key in the 2023 profile — and the
//!    platform challenge is the hash of the RAK claim's bytes, with the hash the realm's
//!    `cca-realm-public-key-hash-algo-id` names;
//! 3. the realm challenge is the expected report data zero-padded (or truncated) to 64 bytes;
//!    report data is required, as upstream: the challenge is the token's only freshness;
//! 4. init data: the personalization value is the init-data digest zero-padded to 64 bytes;
//! 5. reference values, only if configured (`rv-store`/`reference-values`): the platform
//!    must match an entry of its implementation id (configuration and software components,
//!    as upstream's local mode requires) and, when realms are listed, the RIM (and REMs where
//!    listed) must match one. Without a store, appraisal is left to the policy and RVPS,
//!    which see every measurement as a claim.
//!
//! Decisions where upstream differs (spec §14.9): upstream compares the raw init-data digest
//! with the 64-byte RPV, so any SHA-256/384 digest fails; here the digest is padded the way
//! the guest writes it. Upstream reads its stores from `CCA_CONFIG_FILE`; here they come from
//! `verifier_config.cca_verifier` (see the `store` module). Remote (Veraison) mode is not
//! implemented.

mod claims;
mod cose;
mod error;
mod store;
mod token;

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, SHA384, SHA512, digest};
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use claims::{CcaClaims, PlatformClaimsOut, RealmClaimsOut, SwComponentOut};
pub use cose::{Curve, EcKey};
pub use error::CcaError;
pub use store::{
    CcaConfig, PlatformRv, RealmRv, ReferenceValues, TrustAnchor, parse_reference_values,
    parse_trust_anchors,
};
pub use token::{
    Collection, MAX_TOKEN_SIZE, PLATFORM_PROFILE_2023, PLATFORM_PROFILE_LEGACY, PlatformClaims,
    REALM_DATA_SIZE, REALM_PROFILE_2023, RealmClaims, SwComponent,
};

use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier, binding};

/// Verifies a CCA token against the expected report data and init-data digest with the
/// configured trust anchors (and reference values, if any); returns the claims on success.
pub fn verify(
    token: &[u8],
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    config: &CcaConfig,
) -> Result<CcaClaims, CcaError> {
    let collection = Collection::decode(token)?;
    let platform = PlatformClaims::decode(payload(&collection.platform))?;
    let anchor =
        config
            .trust_anchor(&platform.instance_id)
            .ok_or_else(|| CcaError::UnknownInstance {
                instance_id: hex::encode(&platform.instance_id),
            })?;
    if anchor.implementation_id != platform.implementation_id {
        return Err(CcaError::ImplementationIdMismatch);
    }
    cose::verify_sign1(&collection.platform, &anchor.key)
        .map_err(|err| cose::algorithm_error("platform", err, CcaError::PlatformSignature))?;

    let realm = RealmClaims::decode(payload(&collection.realm))?;
    let rak = realm_attestation_key(&realm)?;
    cose::verify_sign1(&collection.realm, &rak)
        .map_err(|err| cose::algorithm_error("realm", err, CcaError::RealmSignature))?;
    if hash(&realm.public_key_hash_algo_id, &realm.public_key)? != platform.challenge {
        return Err(CcaError::RakBinding);
    }

    check_report_data(&realm, expected_report_data)?;
    check_init_data(&realm, expected_init_data_hash)?;
    if let Some(reference_values) = &config.reference_values {
        reference_values.appraise_platform(&platform)?;
        reference_values.appraise_realm(&realm)?;
    }
    Ok(CcaClaims::new(&platform, &realm))
}

fn payload(sign1: &coset::CoseSign1) -> &[u8] {
    // `Collection::decode` rejects detached payloads.
    sign1.payload.as_deref().unwrap_or_default()
}

/// The RAK: a raw point without a realm profile (legacy), a COSE_Key in the 2023 profile.
fn realm_attestation_key(realm: &RealmClaims) -> Result<EcKey, CcaError> {
    let key = match realm.profile {
        None => EcKey::from_raw_point(&realm.public_key),
        Some(_) => EcKey::from_cose_key(&realm.public_key),
    };
    key.ok_or_else(|| CcaError::MalformedClaim {
        token: "realm",
        claim: "cca-realm-public-key",
        reason: if realm.profile.is_none() {
            "not an uncompressed p-256/384/521 point".into()
        } else {
            "not an ec2 cose_key on p-256/384/521".into()
        },
    })
}

/// `sha-256` / `sha-384` / `sha-512` (the CoSWID hash names the token uses).
fn hash(algorithm: &str, data: &[u8]) -> Result<Vec<u8>, CcaError> {
    let algorithm_ref = match algorithm {
        "sha-256" => &SHA256,
        "sha-384" => &SHA384,
        "sha-512" => &SHA512,
        other => {
            return Err(CcaError::Unsupported {
                what: "rak hash algorithm",
                value: other.into(),
            });
        }
    };
    Ok(digest(algorithm_ref, data).as_ref().to_vec())
}

fn check_report_data(realm: &RealmClaims, expected: &ReportData) -> Result<(), CcaError> {
    let ReportData::Value(expected) = expected else {
        return Err(CcaError::ReportDataRequired);
    };
    // The guest fills the challenge with the report data zero-padded or truncated.
    if realm.challenge != binding::regularize::<REALM_DATA_SIZE>(expected) {
        return Err(CcaError::RealmChallenge);
    }
    Ok(())
}

/// The RPV must be the digest followed by zeros; a digest longer than 64 bytes cannot be
/// an RPV (no truncation: two digests would collide).
fn check_init_data(realm: &RealmClaims, expected: &InitDataHash) -> Result<(), CcaError> {
    let InitDataHash::Value(hash) = expected else {
        return Ok(());
    };
    if hash.len() > REALM_DATA_SIZE {
        return Err(CcaError::InitDataDigestLength { len: hash.len() });
    }
    if realm.personalization_value != binding::regularize::<REALM_DATA_SIZE>(hash) {
        return Err(CcaError::InitData);
    }
    Ok(())
}

/// The evidence JSON: the token bytes as an array of numbers.
#[derive(Debug, Deserialize)]
struct CcaEvidence {
    token: Vec<u8>,
}

/// Longest evidence accepted as a JSON string: a maximal token as an array of numbers.
const MAX_EVIDENCE_STRING: usize = 5 * MAX_TOKEN_SIZE;

impl CcaEvidence {
    /// `{"token": [...]}`, or that object serialised into a JSON string: the guest attester
    /// returns its evidence as a JSON text, which some clients embed as a string (upstream
    /// unwraps it the same way).
    fn from_json(evidence: &Value) -> Result<Self, Error> {
        let malformed = |reason: String| Error::MalformedEvidence {
            tee: Tee::Cca,
            reason,
        };
        match evidence {
            Value::String(text) => {
                if text.len() > MAX_EVIDENCE_STRING {
                    return Err(malformed(format!(
                        "evidence string of {} bytes, at most {MAX_EVIDENCE_STRING} accepted",
                        text.len()
                    )));
                }
                serde_json::from_str(text).map_err(|err| malformed(err.to_string()))
            }
            other => Self::deserialize(other).map_err(|err| malformed(err.to_string())),
        }
    }
}

/// The `cca` [`Verifier`], with its trust anchors and reference values.
#[derive(Debug, Clone, Default)]
pub struct Cca {
    config: CcaConfig,
}

impl Cca {
    /// A verifier with this configuration.
    pub fn new(config: CcaConfig) -> Self {
        Self { config }
    }

    /// A verifier from `verifier_config.cca_verifier`:
    /// `{"type": "local", "ta-store": path, "rv-store": path}` (upstream's `cca-verifier`
    /// object), or `trust-anchors` / `reference-values` inline in the same JSON formats.
    /// Without it there are no trust anchors and every token fails with
    /// [`CcaError::UnknownInstance`].
    pub fn from_config(table: Option<&Map<String, Value>>) -> Result<Self, Error> {
        Ok(Self::new(CcaConfig::from_table(table)?))
    }
}

#[async_trait]
impl Verifier for Cca {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = CcaEvidence::from_json(evidence)?;
        let claims = verify(
            &evidence.token,
            expected_report_data,
            expected_init_data_hash,
            &self.config,
        )?;
        Ok(vec![(
            TeeEvidenceClaims::from_serialize(&claims)?,
            TeeClass::Cpu,
        )])
    }
}

#[cfg(test)]
mod tests;
