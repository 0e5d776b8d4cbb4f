//! From a request's runtime and init data to the values the verifier must check, and the claims
//! the policy will see (spec §4 steps 3–4).

use kbs_types::HashAlgorithm;
use serde_json::Value;
use verifier::{InitDataHash, ReportData};

use crate::Error;
use crate::init_data::InitDataToml;
use crate::request::{InitData, RuntimeData};

/// The expected report data and the runtime-data claims (`null` unless structured).
pub(crate) fn expected_report_data(
    runtime_data: Option<&RuntimeData>,
    algorithm: HashAlgorithm,
) -> Result<(ReportData, Value), Error> {
    match runtime_data {
        None => Ok((ReportData::NotProvided, Value::Null)),
        // Raw runtime data is not hashed, although the upstream proto comment says it is;
        // attesters that send raw bytes put them into the report as they are.
        Some(RuntimeData::Raw(bytes)) => Ok((ReportData::Value(bytes.clone()), Value::Null)),
        Some(RuntimeData::Structured(json)) => {
            let digest = jose::jcs::runtime_data_digest(json, algorithm)?;
            Ok((ReportData::Value(digest), json.clone()))
        }
    }
}

/// The expected init-data hash and the init-data claims (`null` unless TOML).
pub(crate) fn expected_init_data_hash(
    init_data: Option<&InitData>,
) -> Result<(InitDataHash, Value), Error> {
    match init_data {
        None => Ok((InitDataHash::NotProvided, Value::Null)),
        Some(InitData::Digest(digest)) => Ok((InitDataHash::Value(digest.clone()), Value::Null)),
        Some(InitData::Toml(text)) => {
            let init_data = InitDataToml::parse(text)?;
            Ok((
                InitDataHash::Value(init_data.digest),
                Value::Object(init_data.claims),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn structured_runtime_data_is_canonicalised_and_hashed() {
        let runtime_data = RuntimeData::Structured(json!({"b":1,"a":"test","c":{"d":"e"}}));
        let (report_data, claims) =
            expected_report_data(Some(&runtime_data), HashAlgorithm::Sha384).unwrap();
        assert_eq!(
            report_data,
            ReportData::Value(
                hex::decode(
                    "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c\
                     4597480a186427c813ca941da78870c3"
                )
                .unwrap()
            )
        );
        assert_eq!(claims, json!({"b":1,"a":"test","c":{"d":"e"}}));
    }

    #[test]
    fn structured_runtime_data_uses_the_requested_hash() {
        let runtime_data = RuntimeData::Structured(json!({}));
        let (report_data, _) =
            expected_report_data(Some(&runtime_data), HashAlgorithm::Sha512).unwrap();
        assert!(matches!(report_data, ReportData::Value(v) if v.len() == 64));
    }

    #[test]
    fn raw_runtime_data_is_used_as_is_without_claims() {
        let runtime_data = RuntimeData::Raw(vec![1, 2, 3]);
        let (report_data, claims) =
            expected_report_data(Some(&runtime_data), HashAlgorithm::Sha384).unwrap();
        assert_eq!(report_data, ReportData::Value(vec![1, 2, 3]));
        assert_eq!(claims, Value::Null);
    }

    #[test]
    fn absent_runtime_and_init_data_skip_the_checks() {
        assert_eq!(
            expected_report_data(None, HashAlgorithm::Sha384).unwrap(),
            (ReportData::NotProvided, Value::Null)
        );
        assert_eq!(
            expected_init_data_hash(None).unwrap(),
            (InitDataHash::NotProvided, Value::Null)
        );
    }

    #[test]
    fn init_data_digest_is_used_as_is_without_claims() {
        let (hash, claims) = expected_init_data_hash(Some(&InitData::Digest(vec![9; 32]))).unwrap();
        assert_eq!(hash, InitDataHash::Value(vec![9; 32]));
        assert_eq!(claims, Value::Null);
    }

    #[test]
    fn init_data_toml_gives_its_digest_and_claims() {
        let text = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"k\" = \"v\"\n";
        let (hash, claims) = expected_init_data_hash(Some(&InitData::Toml(text.into()))).unwrap();
        assert_eq!(
            hash,
            InitDataHash::Value(HashAlgorithm::Sha256.digest(text.as_bytes()))
        );
        assert_eq!(claims, json!({"k": "v"}));
    }
}
