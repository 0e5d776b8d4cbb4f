//! Decoding the CCA attestation token: the CBOR collection, the two COSE_Sign1 envelopes and
//! the claims they carry (Arm RMM specification, "CCA attestation token"; verifiers spec §7.1).
//!
//! Everything here only decodes: signatures are checked in [`super::cose`], bindings in
//! [`super::verify`]. Claims are read from the payloads whose signature has not been checked
//! yet, because the platform token names the trust anchor (by instance id) that checks it.

use ciborium::value::Value;
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};

use super::CcaError;

/// Largest token accepted; real tokens are 1-3 KiB.
pub const MAX_TOKEN_SIZE: usize = 64 * 1024;

/// CBOR tag of the collection in the RMM 1.0 token (`tag 399`, legacy and 2023 profiles).
const TAG_COLLECTION: u64 = 399;
/// CBOR tag of the CMW collection of later tokens (each member `[263, bstr]`).
const TAG_CMW_COLLECTION: u64 = 907;
/// CoAP content format of an EAT in a CWT, tagging CMW members.
const CMW_EAT_CWT: u64 = 263;
/// Collection label of the platform token.
const LABEL_PLATFORM: i128 = 44234;
/// Collection label of the realm (delegated) token.
const LABEL_REALM: i128 = 44241;

/// Platform profile of the token produced by TF-A/RMM 1.0 (the published samples).
pub const PLATFORM_PROFILE_LEGACY: &str = "http://arm.com/CCA-SSD/1.0.0";
/// Platform profile of the 2023 token format.
pub const PLATFORM_PROFILE_2023: &str = "tag:arm.com,2023:cca_platform#1.0.0";
/// Realm profile of the 2023 token format, whose RAK is a COSE_Key.
pub const REALM_PROFILE_2023: &str = "tag:arm.com,2023:realm#1.0.0";

// Claim keys (EAT / PSA / CCA).
const KEY_PROFILE: i128 = 265;
const KEY_CHALLENGE: i128 = 10;
const KEY_IMPLEMENTATION_ID: i128 = 2396;
const KEY_INSTANCE_ID: i128 = 256;
const KEY_CONFIG: i128 = 2401;
const KEY_LIFECYCLE: i128 = 2395;
const KEY_SW_COMPONENTS: i128 = 2399;
const KEY_VERIFICATION_SERVICE: i128 = 2400;
const KEY_PLATFORM_HASH_ALG: i128 = 2402;
const KEY_REALM_PERSONALIZATION: i128 = 44235;
const KEY_REALM_HASH_ALG: i128 = 44236;
const KEY_REALM_PUBLIC_KEY: i128 = 44237;
const KEY_REALM_RIM: i128 = 44238;
const KEY_REALM_REMS: i128 = 44239;
const KEY_REALM_PUBLIC_KEY_HASH_ALG: i128 = 44240;
// Keys of one software component.
const SW_MEASUREMENT_TYPE: i128 = 1;
const SW_MEASUREMENT_VALUE: i128 = 2;
const SW_VERSION: i128 = 4;
const SW_SIGNER_ID: i128 = 5;
const SW_MEASUREMENT_DESCRIPTION: i128 = 6;

/// Realm challenge and personalization value size.
pub const REALM_DATA_SIZE: usize = 64;
/// The RMM reports exactly four REMs.
const REM_COUNT: usize = 4;
/// Software components accepted in one platform token.
const MAX_SW_COMPONENTS: usize = 64;

/// The two tokens of a collection, still signed envelopes.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The platform token (signed by the CPAK).
    pub platform: CoseSign1,
    /// The realm token (signed by the RAK).
    pub realm: CoseSign1,
}

impl Collection {
    /// Decodes the tag-399 (or tag-907 CMW) collection and both COSE_Sign1 envelopes.
    pub fn decode(token: &[u8]) -> Result<Self, CcaError> {
        if token.len() > MAX_TOKEN_SIZE {
            return Err(malformed(format!(
                "{} bytes, at most {MAX_TOKEN_SIZE} accepted",
                token.len()
            )));
        }
        let value: Value = ciborium::de::from_reader(token)
            .map_err(|err| malformed(format!("not cbor: {err}")))?;
        let Value::Tag(tag, inner) = value else {
            return Err(malformed("not a tagged collection".into()));
        };
        let cmw = match tag {
            TAG_COLLECTION => false,
            TAG_CMW_COLLECTION => true,
            other => {
                return Err(malformed(format!(
                    "tag {other}, expected {TAG_COLLECTION} or {TAG_CMW_COLLECTION}"
                )));
            }
        };
        let Value::Map(entries) = *inner else {
            return Err(malformed("collection is not a map".into()));
        };
        let mut platform = None;
        let mut realm = None;
        for (key, value) in entries {
            let slot = match int_key(&key) {
                Some(LABEL_PLATFORM) => &mut platform,
                Some(LABEL_REALM) => &mut realm,
                _ => return Err(malformed("unknown collection member".into())),
            };
            if slot.is_some() {
                return Err(malformed("duplicate collection member".into()));
            }
            *slot = Some(member_bytes(value, cmw)?);
        }
        let platform = platform.ok_or_else(|| malformed("no platform token".into()))?;
        let realm = realm.ok_or_else(|| malformed("no realm token".into()))?;
        Ok(Self {
            platform: decode_sign1(&platform, "platform")?,
            realm: decode_sign1(&realm, "realm")?,
        })
    }
}

fn malformed(reason: String) -> CcaError {
    CcaError::MalformedCollection { reason }
}

/// A collection member: a bstr, or `[263, bstr]` in a CMW collection.
fn member_bytes(value: Value, cmw: bool) -> Result<Vec<u8>, CcaError> {
    let value = if cmw {
        let Value::Array(items) = value else {
            return Err(malformed("cmw member is not [263, token]".into()));
        };
        match <[Value; 2]>::try_from(items) {
            Ok([Value::Integer(kind), token]) if u64::try_from(kind) == Ok(CMW_EAT_CWT) => token,
            _ => return Err(malformed("cmw member is not [263, token]".into())),
        }
    } else {
        value
    };
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(malformed("member is not a byte string".into())),
    }
}

/// A COSE_Sign1, tagged (18) or not: the RMM tags both, older realm tokens were untagged.
fn decode_sign1(bytes: &[u8], token: &'static str) -> Result<CoseSign1, CcaError> {
    let decoded = if bytes.first() == Some(&0xd2) {
        CoseSign1::from_tagged_slice(bytes)
    } else {
        CoseSign1::from_slice(bytes)
    };
    let sign1 = decoded.map_err(|err| CcaError::MalformedEnvelope {
        token,
        reason: err.to_string(),
    })?;
    if sign1.payload.is_none() {
        return Err(CcaError::MalformedEnvelope {
            token,
            reason: "detached payload".into(),
        });
    }
    Ok(sign1)
}

fn int_key(key: &Value) -> Option<i128> {
    match key {
        Value::Integer(int) => Some(i128::from(*int)),
        _ => None,
    }
}

/// One measured platform firmware component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwComponent {
    /// `measurement-type` (e.g. `RMM`, `BL`).
    pub measurement_type: Option<String>,
    /// `measurement-value`.
    pub measurement_value: Vec<u8>,
    /// `version`.
    pub version: Option<String>,
    /// `signer-id`: hash of the key that signed the image.
    pub signer_id: Vec<u8>,
    /// `measurement-description` (the hash algorithm of the measurement).
    pub measurement_description: Option<String>,
}

/// The claims of a platform token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformClaims {
    /// `cca-platform-profile`.
    pub profile: String,
    /// `cca-platform-challenge`: the hash of the RAK.
    pub challenge: Vec<u8>,
    /// `cca-platform-implementation-id` (32 bytes).
    pub implementation_id: Vec<u8>,
    /// `cca-platform-instance-id` (33 bytes: type byte + hash of the CPAK).
    pub instance_id: Vec<u8>,
    /// `cca-platform-config`.
    pub config: Vec<u8>,
    /// `cca-platform-lifecycle`.
    pub lifecycle: u64,
    /// `cca-platform-sw-components`.
    pub sw_components: Vec<SwComponent>,
    /// `cca-platform-service-indicator` (optional).
    pub service_indicator: Option<String>,
    /// `cca-platform-hash-algo-id`.
    pub hash_algo_id: String,
}

/// The claims of a realm token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmClaims {
    /// `cca-realm-profile` (absent in the legacy token).
    pub profile: Option<String>,
    /// `cca-realm-challenge` (64 bytes).
    pub challenge: Vec<u8>,
    /// `cca-realm-personalization-value` (64 bytes).
    pub personalization_value: Vec<u8>,
    /// `cca-realm-initial-measurement`.
    pub initial_measurement: Vec<u8>,
    /// `cca-realm-extensible-measurements` (four).
    pub extensible_measurements: Vec<Vec<u8>>,
    /// `cca-realm-hash-algo-id`: the hash of the measurements.
    pub hash_algo_id: String,
    /// `cca-realm-public-key`: the RAK, a raw EC point (legacy) or a COSE_Key (2023).
    pub public_key: Vec<u8>,
    /// `cca-realm-public-key-hash-algo-id`: the hash the platform challenge uses for the RAK.
    pub public_key_hash_algo_id: String,
}

/// The claim map of a payload, keyed by integer; duplicate and non-integer keys rejected.
struct ClaimMap {
    token: &'static str,
    entries: Vec<(i128, Value)>,
}

impl ClaimMap {
    fn decode(payload: &[u8], token: &'static str) -> Result<Self, CcaError> {
        let value: Value =
            ciborium::de::from_reader(payload).map_err(|err| CcaError::MalformedEnvelope {
                token,
                reason: format!("payload is not cbor: {err}"),
            })?;
        let Value::Map(map) = value else {
            return Err(CcaError::MalformedEnvelope {
                token,
                reason: "payload is not a claim map".into(),
            });
        };
        let mut entries: Vec<(i128, Value)> = Vec::with_capacity(map.len());
        for (key, value) in map {
            let Some(key) = int_key(&key) else {
                // Text keys are not used by either profile; ignore rather than guess.
                continue;
            };
            if entries.iter().any(|(seen, _)| *seen == key) {
                return Err(CcaError::MalformedEnvelope {
                    token,
                    reason: format!("duplicate claim {key}"),
                });
            }
            entries.push((key, value));
        }
        Ok(Self { token, entries })
    }

    fn take(&mut self, key: i128) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(at).1)
    }

    fn error(&self, claim: &'static str, reason: impl Into<String>) -> CcaError {
        CcaError::MalformedClaim {
            token: self.token,
            claim,
            reason: reason.into(),
        }
    }

    fn required(&mut self, key: i128, claim: &'static str) -> Result<Value, CcaError> {
        self.take(key).ok_or_else(|| self.error(claim, "missing"))
    }

    fn bytes(&mut self, key: i128, claim: &'static str) -> Result<Vec<u8>, CcaError> {
        match self.required(key, claim)? {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(self.error(claim, "not a byte string")),
        }
    }

    fn sized(
        &mut self,
        key: i128,
        claim: &'static str,
        sizes: &[usize],
    ) -> Result<Vec<u8>, CcaError> {
        let bytes = self.bytes(key, claim)?;
        if !sizes.contains(&bytes.len()) {
            return Err(self.error(claim, format!("{} bytes, expected {sizes:?}", bytes.len())));
        }
        Ok(bytes)
    }

    fn text(&mut self, key: i128, claim: &'static str) -> Result<String, CcaError> {
        match self.required(key, claim)? {
            Value::Text(text) => Ok(text),
            _ => Err(self.error(claim, "not a text string")),
        }
    }

    fn optional_text(
        &mut self,
        key: i128,
        claim: &'static str,
    ) -> Result<Option<String>, CcaError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Text(text)) => Ok(Some(text)),
            Some(_) => Err(self.error(claim, "not a text string")),
        }
    }
}

/// Digest sizes a measurement or challenge may have (SHA-256/384/512).
const DIGEST_SIZES: [usize; 3] = [32, 48, 64];

impl PlatformClaims {
    /// Decodes the platform token's payload.
    pub fn decode(payload: &[u8]) -> Result<Self, CcaError> {
        let mut map = ClaimMap::decode(payload, "platform")?;
        let profile = map.text(KEY_PROFILE, "cca-platform-profile")?;
        if profile != PLATFORM_PROFILE_LEGACY && profile != PLATFORM_PROFILE_2023 {
            return Err(CcaError::Unsupported {
                what: "platform profile",
                value: profile,
            });
        }
        let challenge = map.sized(KEY_CHALLENGE, "cca-platform-challenge", &DIGEST_SIZES)?;
        let implementation_id = map.sized(
            KEY_IMPLEMENTATION_ID,
            "cca-platform-implementation-id",
            &[32],
        )?;
        let instance_id = map.sized(KEY_INSTANCE_ID, "cca-platform-instance-id", &[33])?;
        let config = map.bytes(KEY_CONFIG, "cca-platform-config")?;
        let lifecycle = match map.required(KEY_LIFECYCLE, "cca-platform-lifecycle")? {
            Value::Integer(int) => {
                u64::try_from(int).map_err(|_| map.error("cca-platform-lifecycle", "negative"))?
            }
            _ => return Err(map.error("cca-platform-lifecycle", "not an unsigned integer")),
        };
        let sw_components = match map.required(KEY_SW_COMPONENTS, "cca-platform-sw-components")? {
            Value::Array(items) if items.len() <= MAX_SW_COMPONENTS => items
                .into_iter()
                .map(|item| SwComponent::decode(item, &map))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Array(_) => {
                return Err(map.error("cca-platform-sw-components", "too many components"));
            }
            _ => return Err(map.error("cca-platform-sw-components", "not an array")),
        };
        let service_indicator =
            map.optional_text(KEY_VERIFICATION_SERVICE, "cca-platform-service-indicator")?;
        let hash_algo_id = map.text(KEY_PLATFORM_HASH_ALG, "cca-platform-hash-algo-id")?;
        Ok(Self {
            profile,
            challenge,
            implementation_id,
            instance_id,
            config,
            lifecycle,
            sw_components,
            service_indicator,
            hash_algo_id,
        })
    }
}

impl SwComponent {
    fn decode(value: Value, parent: &ClaimMap) -> Result<Self, CcaError> {
        const CLAIM: &str = "cca-platform-sw-components";
        let Value::Map(entries) = value else {
            return Err(parent.error(CLAIM, "component is not a map"));
        };
        let mut component = ClaimMap {
            token: parent.token,
            entries: Vec::with_capacity(entries.len()),
        };
        for (key, value) in entries {
            if let Some(key) = int_key(&key) {
                if component.entries.iter().any(|(seen, _)| *seen == key) {
                    return Err(parent.error(CLAIM, "duplicate component field"));
                }
                component.entries.push((key, value));
            }
        }
        Ok(Self {
            measurement_type: component.optional_text(SW_MEASUREMENT_TYPE, CLAIM)?,
            measurement_value: component.bytes(SW_MEASUREMENT_VALUE, CLAIM)?,
            version: component.optional_text(SW_VERSION, CLAIM)?,
            signer_id: component.bytes(SW_SIGNER_ID, CLAIM)?,
            measurement_description: component.optional_text(SW_MEASUREMENT_DESCRIPTION, CLAIM)?,
        })
    }
}

impl RealmClaims {
    /// Decodes the realm token's payload.
    pub fn decode(payload: &[u8]) -> Result<Self, CcaError> {
        let mut map = ClaimMap::decode(payload, "realm")?;
        let profile = map.optional_text(KEY_PROFILE, "cca-realm-profile")?;
        if let Some(profile) = &profile {
            if profile != REALM_PROFILE_2023 {
                return Err(CcaError::Unsupported {
                    what: "realm profile",
                    value: profile.clone(),
                });
            }
        }
        let challenge = map.sized(KEY_CHALLENGE, "cca-realm-challenge", &[REALM_DATA_SIZE])?;
        let personalization_value = map.sized(
            KEY_REALM_PERSONALIZATION,
            "cca-realm-personalization-value",
            &[REALM_DATA_SIZE],
        )?;
        let initial_measurement = map.sized(
            KEY_REALM_RIM,
            "cca-realm-initial-measurement",
            &DIGEST_SIZES,
        )?;
        let extensible_measurements = match map
            .required(KEY_REALM_REMS, "cca-realm-extensible-measurements")?
        {
            Value::Array(items) if items.len() == REM_COUNT => items
                .into_iter()
                .map(|item| match item {
                    Value::Bytes(bytes) if DIGEST_SIZES.contains(&bytes.len()) => Ok(bytes),
                    _ => Err(map.error(
                        "cca-realm-extensible-measurements",
                        "not a digest-sized byte string",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(map.error("cca-realm-extensible-measurements", "not an array of four"));
            }
        };
        let hash_algo_id = map.text(KEY_REALM_HASH_ALG, "cca-realm-hash-algo-id")?;
        let public_key = map.bytes(KEY_REALM_PUBLIC_KEY, "cca-realm-public-key")?;
        let public_key_hash_algo_id = map.text(
            KEY_REALM_PUBLIC_KEY_HASH_ALG,
            "cca-realm-public-key-hash-algo-id",
        )?;
        Ok(Self {
            profile,
            challenge,
            personalization_value,
            initial_measurement,
            extensible_measurements,
            hash_algo_id,
            public_key,
            public_key_hash_algo_id,
        })
    }
}
