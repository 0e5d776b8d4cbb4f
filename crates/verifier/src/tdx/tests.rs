//! The shared TDX samples through the whole verifier, at the manifest's times with the
//! manifest's collateral bundles (testdata README §3, §4), and negatives made by mutating a
//! good sample at test time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::*;
use crate::collateral::CollateralError;
use crate::collateral::intel::{CollateralRequest, DcapCollateral};
use crate::test_support::{cpu_claims, shared};
use crate::{FixedClock, Verifier};

/// 2023-06-28T00:00:00Z: inside `tdx_quote_4`'s collateral window.
pub(crate) const QUOTE_4_TIME: u64 = 1_687_910_400;
/// 2026-03-01T00:00:00Z: inside `tdx_quote_5`'s collateral window.
const QUOTE_5_TIME: u64 = 1_772_323_200;
/// 2025-11-05T00:00:00Z: inside `tdx_quote_6`'s collateral window.
const QUOTE_6_TIME: u64 = 1_762_300_800;
/// 2023-07-09T00:00:00Z: the day after `tdx_quote_4`'s TCB info and CRLs expired.
const AFTER_QUOTE_4_COLLATERAL: u64 = 1_688_860_800;
/// 2027-01-15: after the 2018-2025 TCB signing certificate expired.
const AFTER_TCB_SIGNING_CERT: u64 = 1_800_000_000;

pub(crate) const QUOTE_4_REPORT_DATA: &str = "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429";
const QUOTE_5_REPORT_DATA: &str = "6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f";
const QUOTE_6_REPORT_DATA: &str = "26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd00000000000000000000000000000000";
const QUOTE_6_MR_CONFIG_ID: &str = "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67";

/// A collateral source holding one quote's bundle.
pub(crate) struct Fixed {
    collateral: Arc<DcapCollateral>,
}

impl Fixed {
    /// The dcap-qvl bundle `collateral/intel/bundles/<name>.dcap-qvl.json`.
    pub(crate) fn bundle(name: &str) -> Self {
        let text = shared(&format!("collateral/intel/bundles/{name}.dcap-qvl.json"));
        let collateral =
            DcapCollateral::from_dcap_qvl_json(std::str::from_utf8(&text).unwrap()).unwrap();
        Self {
            collateral: Arc::new(collateral),
        }
    }
}

#[async_trait]
impl DcapCollateralSource for Fixed {
    async fn collateral(
        &self,
        _request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError> {
        Ok(self.collateral.clone())
    }
}

pub(crate) fn wrapped(name: &str) -> Value {
    serde_json::from_slice(&shared(&format!("wrapped/tdx/{name}.json"))).unwrap()
}

fn report_data(hex_text: &str) -> ReportData {
    ReportData::Value(hex::decode(hex_text).unwrap())
}

async fn evaluate(
    name: &str,
    evidence: &Value,
    now: u64,
    expected: &ReportData,
    init_data: &InitDataHash,
) -> Result<Map<String, Value>, Error> {
    let verifier = Tdx::new(Arc::new(Fixed::bundle(name)), Arc::new(FixedClock(now)));
    cpu_claims(&verifier, evidence, expected, init_data).await
}

async fn quote_4(evidence: &Value) -> Result<Map<String, Value>, Error> {
    evaluate(
        "tdx_quote_4",
        evidence,
        QUOTE_4_TIME,
        &report_data(QUOTE_4_REPORT_DATA),
        &InitDataHash::NotProvided,
    )
    .await
}

#[test]
fn quote_4_with_ccel_data_claims_are_upstreams_golden_claims() {
    let quote = Quote::parse(&shared("evidence/tdx/tdx_quote_4.dat")).unwrap();
    let log = EventLog::parse(&shared("evidence/tdx/eventlog/CCEL_data")).unwrap();
    let claims = Value::Object(quote_claims(&quote, Some(&log)).unwrap());
    let mut golden: Value =
        serde_json::from_slice(&shared("evidence/tdx/parse_tdx_claims_expected.json")).unwrap();
    // Read from the PCK certificate by the DCAP verification, checked in the full tests.
    golden
        .as_object_mut()
        .unwrap()
        .remove("platform_instance_id");
    assert_eq!(claims, golden);
}

#[test]
fn v5_quotes_carry_body_type_size_and_the_tdx_1_5_fields() {
    let quote = Quote::parse(&shared("evidence/tdx/tdx_quote_5.dat")).unwrap();
    let claims = quote_claims(&quote, None).unwrap();
    assert_eq!(claims["quote"]["header"]["version"], "0500");
    assert_eq!(claims["quote"]["type"], "0300");
    assert_eq!(claims["quote"]["size"], "88020000", "648 bytes");
    assert_eq!(
        claims["quote"]["body"]["mr_servicetd"],
        "383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d"
    );
    assert_eq!(claims["td_attributes"]["debug"], false);
    assert_eq!(claims["td_attributes"]["septve_disable"], true);
    assert!(claims.get("uefi_event_logs").is_none());
}

#[tokio::test]
async fn quote_4_verifies_with_its_bundle_and_yields_the_manifest_claims() {
    let claims = quote_4(&wrapped("tdx_quote_4")).await.unwrap();
    let body = &claims["quote"]["body"];
    assert_eq!(
        body["mr_td"],
        "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031"
    );
    assert_eq!(body["tcb_svn"], "03000500000000000000000000000000");
    assert_eq!(body["td_attributes"], "0100001000000000");
    assert_eq!(body["xfam"], "e742060000000000");
    assert_eq!(claims["report_data"], QUOTE_4_REPORT_DATA);
    assert_eq!(claims["init_data"], "0".repeat(96));
    assert_eq!(
        claims["td_attributes"]["debug"], true,
        "a debug TD is reported, not refused"
    );
    assert_eq!(claims["tcb_status"], "UpToDate");
    assert_eq!(claims["advisory_ids"], json!([]));
    assert_eq!(claims["tcb_date"], "2023-02-15T00:00:00Z");
    // A TD 1.0 body: the current TCB (QVL supplemental 3.5) is the launch TCB.
    assert_eq!(claims["tcb_status_current"], "UpToDate");
    assert_eq!(claims["advisory_ids_current"], json!([]));
    assert_eq!(claims["tcb_date_current"], "2023-02-15T00:00:00Z");
    assert_eq!(claims["collateral_expiration_status"], "0");
    // Upstream's byte order (its golden claims); the PCK certificate holds 021ac64d...82.
    assert_eq!(
        claims["platform_instance_id"],
        "82548d228d94d5e204a95b354dc61a02"
    );
    assert!(claims.get("uefi_event_logs").is_none(), "no log was sent");
}

#[tokio::test]
async fn quote_6_verifies_and_binds_its_mr_config_id_as_init_data() {
    let init_data = InitDataHash::Value(hex::decode(QUOTE_6_MR_CONFIG_ID).unwrap());
    let claims = evaluate(
        "tdx_quote_6",
        &wrapped("tdx_quote_6"),
        QUOTE_6_TIME,
        &report_data(QUOTE_6_REPORT_DATA),
        &init_data,
    )
    .await
    .unwrap();
    assert_eq!(
        claims["quote"]["body"]["mr_td"],
        "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88"
    );
    assert_eq!(claims["init_data"], QUOTE_6_MR_CONFIG_ID);
    assert_eq!(claims["tcb_status"], "OutOfDate");
    assert_eq!(claims["tcb_date"], "2018-01-04T00:00:00Z");
    assert_eq!(claims["tcb_status_current"], "OutOfDate");
    assert_eq!(claims["advisory_ids_current"], json!([]));
    assert_eq!(claims["tcb_date_current"], "2018-01-04T00:00:00Z");
    assert_eq!(
        claims["platform_instance_id"],
        "99191e4ad7393cd579c4166bbaf5ea02"
    );

    // The report data carries a 48-byte digest: the 48 bytes alone are padded to match.
    let digest = &QUOTE_6_REPORT_DATA[..96];
    evaluate(
        "tdx_quote_6",
        &wrapped("tdx_quote_6"),
        QUOTE_6_TIME,
        &report_data(digest),
        &init_data,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn wrong_report_data_is_refused_by_name() {
    let mut wrong = hex::decode(QUOTE_4_REPORT_DATA).unwrap();
    wrong[63] ^= 1;
    let err = evaluate(
        "tdx_quote_4",
        &wrapped("tdx_quote_4"),
        QUOTE_4_TIME,
        &ReportData::Value(wrong),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Mismatch {
            field: "report_data"
        }
    );
}

#[tokio::test]
async fn wrong_init_data_is_refused_by_name() {
    let mut wrong = hex::decode(QUOTE_6_MR_CONFIG_ID).unwrap();
    wrong[0] ^= 1;
    let err = evaluate(
        "tdx_quote_6",
        &wrapped("tdx_quote_6"),
        QUOTE_6_TIME,
        &report_data(QUOTE_6_REPORT_DATA),
        &InitDataHash::Value(wrong),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Mismatch {
            field: "mr_config_id"
        }
    );
    // All-zero MRCONFIGID of quote 4: a 32-byte zero digest is padded to 48 and binds.
    quote_4_with_init_data(vec![0; 32]).await.unwrap();
    assert!(quote_4_with_init_data(vec![1; 32]).await.is_err());
}

async fn quote_4_with_init_data(digest: Vec<u8>) -> Result<Map<String, Value>, Error> {
    evaluate(
        "tdx_quote_4",
        &wrapped("tdx_quote_4"),
        QUOTE_4_TIME,
        &report_data(QUOTE_4_REPORT_DATA),
        &InitDataHash::Value(digest),
    )
    .await
}

#[tokio::test]
async fn an_event_log_that_does_not_replay_is_refused_naming_the_replay() {
    let err = quote_4(&wrapped("tdx_quote_4.with-unrelated-ccel"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::EventLog(crate::eventlog::EventLogError::ReplayMismatch { rtmr: 0, replayed, quoted })
            if replayed.starts_with("2dc712306a963ead") && quoted.starts_with("e940da7c2712d279")),
        "{err:?}"
    );
    assert!(err.to_string().contains("event log replay"), "{err}");
}

#[tokio::test]
async fn quote_5_fails_at_tcb_level_matching() {
    let err = evaluate(
        "tdx_quote_5",
        &wrapped("tdx_quote_5"),
        QUOTE_5_TIME,
        &report_data(QUOTE_5_REPORT_DATA),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Dcap(_)), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("tcb"), "{err}");
}

#[tokio::test]
async fn a_flipped_byte_in_the_quote_body_fails_the_quote_signature() {
    let mut evidence = wrapped("tdx_quote_4");
    let mut quote = STANDARD
        .decode(evidence["quote"].as_str().unwrap())
        .unwrap();
    // mr_td starts at body offset 136, after the 48-byte header.
    quote[48 + 136] ^= 1;
    evidence["quote"] = json!(STANDARD.encode(quote));
    let err = quote_4(&evidence).await.unwrap_err();
    assert!(matches!(err, Error::Dcap(_)), "{err:?}");
    assert!(err.to_string().contains("signature"), "{err}");
}

#[tokio::test]
async fn quote_4_carries_qvls_supplemental_claims() {
    let claims = quote_4(&wrapped("tdx_quote_4")).await.unwrap();
    // Values upstream's (ignored, online) QVL test expects for this quote's platform.
    assert_eq!(
        claims["root_key_id"],
        "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993"
    );
    assert_eq!(
        claims["platform_provider_id"],
        "df4c32a9d8d86009aaf380ec43cfcefb"
    );
    assert_eq!(claims["sgx_type"], "Scalable");
    assert_eq!(claims["is_dynamic_platform"], true);
    assert_eq!(claims["is_cached_keys"], true);
    assert_eq!(claims["is_smt_enabled"], true);
    assert_eq!(claims["earliest_issue_date"], "2018-05-21T10:45:10Z");
    // This bundle's values (testdata README §4: evaluation number 15, window end).
    assert_eq!(claims["tcb_eval_num"], 15);
    assert_eq!(claims["earliest_expiration_date"], "2023-07-08T07:24:59Z");
    assert_eq!(claims["latest_issue_date"], "2023-06-18T08:42:58Z");
    assert_eq!(claims["pck_crl_num"], 1);
    assert_eq!(claims["root_ca_crl_num"], 1);
}

#[tokio::test]
async fn expired_collateral_is_a_claim_and_an_expired_certificate_a_failure() {
    // QVL semantics: TCB info and CRLs past nextUpdate are reported, not fatal.
    let claims = evaluate(
        "tdx_quote_4",
        &wrapped("tdx_quote_4"),
        AFTER_QUOTE_4_COLLATERAL,
        &report_data(QUOTE_4_REPORT_DATA),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap();
    assert_eq!(claims["collateral_expiration_status"], "1");
    // After the TCB signing certificate's notAfter (2025-05-21) the chain fails.
    let err = evaluate(
        "tdx_quote_4",
        &wrapped("tdx_quote_4"),
        AFTER_TCB_SIGNING_CERT,
        &report_data(QUOTE_4_REPORT_DATA),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Dcap(crate::dcap::DcapError::CertificateNotValid {
                cert: crate::dcap::CertRole::TcbSigning,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn checked_collateral_is_cached_but_validity_is_checked_at_every_use() {
    let source = Fixed::bundle("tdx_quote_4");
    let cache = common::VerifiedCollateralCache::default();
    let expected = report_data(QUOTE_4_REPORT_DATA);
    let run = |now| {
        verify_with(
            TdxEvidence::from_json(&wrapped("tdx_quote_4")).unwrap(),
            &expected,
            &InitDataHash::NotProvided,
            common::QuoteCheck::cached(&source, &cache, now),
        )
    };
    run(QUOTE_4_TIME).await.unwrap();
    run(QUOTE_4_TIME).await.unwrap();
    assert_eq!(cache.len(), 1);
    assert!(matches!(
        run(AFTER_TCB_SIGNING_CERT).await,
        Err(Error::Dcap(
            crate::dcap::DcapError::CertificateNotValid { .. }
        ))
    ));
}

#[tokio::test]
async fn an_sgx_quote_is_not_tdx_evidence() {
    let sgx: Value = serde_json::from_slice(&shared("wrapped/sgx/occlum_quote.json")).unwrap();
    let err = TdxEvidence::from_json(&sgx).unwrap_err();
    assert!(
        matches!(&err, Error::MalformedEvidence { tee: Tee::Tdx, reason } if reason.contains("not a TD quote")),
        "{err:?}"
    );
}

#[test]
fn malformed_evidence_is_refused_by_field() {
    let cases = [
        (json!({"quote": "not base64!"}), "quote"),
        (
            json!({"quote": wrapped("tdx_quote_4")["quote"], "cc_eventlog": "%%%"}),
            "cc_eventlog",
        ),
    ];
    for (evidence, field) in cases {
        assert_eq!(
            TdxEvidence::from_json(&evidence).unwrap_err(),
            Error::Base64 { field }
        );
    }
    assert!(matches!(
        TdxEvidence::from_json(&json!({"quote": ""})),
        Err(Error::MalformedEvidence { .. })
    ));
    assert!(matches!(
        TdxEvidence::from_json(&json!({"cc_eventlog": null})),
        Err(Error::MalformedEvidence { .. })
    ));
}

#[tokio::test]
async fn collateral_for_another_platform_fails_naming_the_fmspc() {
    // A source that answers with tdx_quote_6's collateral (FMSPC 00A06D080000) for quote 4.
    let verifier = Tdx::new(
        Arc::new(Fixed::bundle("tdx_quote_6")),
        Arc::new(FixedClock(QUOTE_6_TIME)),
    );
    let err = verifier
        .evaluate(
            &wrapped("tdx_quote_4"),
            &report_data(QUOTE_4_REPORT_DATA),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("fmspc mismatch"), "{err}");
}

/// `tdx_quote_4` verified by `dcap` with its bundle at the manifest's time, for tests that set
/// the TCB results by hand and check how they become claims.
fn verified_quote_4() -> crate::dcap::VerifiedQuote {
    let quote = crate::dcap::Quote::parse(&shared("evidence/tdx/tdx_quote_4.dat")).unwrap();
    let bundle = shared("collateral/intel/bundles/tdx_quote_4.dcap-qvl.json");
    let collateral =
        DcapCollateral::from_dcap_qvl_json(std::str::from_utf8(&bundle).unwrap()).unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(QUOTE_4_TIME as i64).unwrap();
    crate::dcap::verify(quote, &collateral, now).unwrap()
}

#[test]
fn relaunch_statuses_reach_the_tcb_status_claim_with_qvls_strings() {
    // The status itself is computed in `dcap` (its relaunch tests); here: the claim names it.
    let mut verified = verified_quote_4();
    for (status, claim) in [
        (
            crate::dcap::TcbStatus::TdRelaunchAdvised,
            "TDRelaunchAdvised",
        ),
        (
            crate::dcap::TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
            "TDRelaunchAdvisedConfigurationNeeded",
        ),
    ] {
        verified.tcb_status = status;
        let mut claims = serde_json::Map::new();
        common::insert_dcap_claims(&verified, &mut claims);
        assert_eq!(claims["tcb_status"], claim);
        assert!(status.is_accepted(), "{claim} is an accepted QVL result");
    }
}

#[test]
fn current_tcb_claims_carry_the_current_evaluation_not_the_launch_one() {
    // A TD 1.5 evaluation is computed in `dcap` (its relaunch tests); here: each value reaches
    // its claim, apart from the launch values.
    let mut verified = verified_quote_4();
    verified.tcb_status = crate::dcap::TcbStatus::TdRelaunchAdvised;
    verified.advisory_ids = vec!["INTEL-SA-00001".into()];
    verified.current = crate::dcap::CurrentTcb {
        status: crate::dcap::TcbStatus::UpToDate,
        advisory_ids: vec!["INTEL-SA-00002".into(), "INTEL-SA-00003".into()],
        tcb_date: Some("2025-01-01T00:00:00Z".into()),
    };
    let mut claims = serde_json::Map::new();
    common::insert_dcap_claims(&verified, &mut claims);
    assert_eq!(claims["tcb_status"], "TDRelaunchAdvised");
    assert_eq!(claims["advisory_ids"], json!(["INTEL-SA-00001"]));
    assert_eq!(claims["tcb_date"], "2023-02-15T00:00:00Z");
    assert_eq!(claims["tcb_status_current"], "UpToDate");
    assert_eq!(
        claims["advisory_ids_current"],
        json!(["INTEL-SA-00002", "INTEL-SA-00003"])
    );
    assert_eq!(claims["tcb_date_current"], "2025-01-01T00:00:00Z");
}
