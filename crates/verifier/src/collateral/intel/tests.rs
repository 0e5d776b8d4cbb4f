//! Bundle parsing against the shared test data's Intel collateral.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::bundle::{Bundle, compact};
use super::*;
use crate::test_support::{shared, shared_path};

/// Every quote with collateral bundles in `shared/testdata/collateral/intel/bundles/`.
pub(crate) const BUNDLES: [&str; 5] = [
    "az-tdx-vtpm_td-quote",
    "occlum_quote",
    "tdx_quote_4",
    "tdx_quote_5",
    "tdx_quote_6",
];

pub(crate) fn bundle_text(name: &str, format: &str) -> String {
    String::from_utf8(shared(&format!(
        "collateral/intel/bundles/{name}.{format}.json"
    )))
    .unwrap()
}

pub(crate) fn qvl(name: &str) -> DcapCollateral {
    DcapCollateral::from_dcap_qvl_json(&bundle_text(name, "dcap-qvl")).unwrap()
}

/// The request each bundle answers, as `(tee, fmspc, ca)` from the test-data README.
pub(crate) fn request_for(name: &str) -> CollateralRequest {
    let (tee, fmspc) = match name {
        "az-tdx-vtpm_td-quote" => (DcapTee::Tdx, "00806F050000"),
        "occlum_quote" => (DcapTee::Sgx, "00606A000000"),
        "tdx_quote_4" => (DcapTee::Tdx, "50806F000000"),
        "tdx_quote_5" => (DcapTee::Tdx, "90C06F000000"),
        "tdx_quote_6" => (DcapTee::Tdx, "00A06D080000"),
        other => panic!("no bundle {other}"),
    };
    CollateralRequest {
        tee,
        fmspc: hex::decode(fmspc).unwrap().try_into().unwrap(),
        ca: PckCa::Platform,
    }
}

fn raw_field(name: &str, field: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(&bundle_text(name, "dcap-qvl")).unwrap();
    value[field].as_str().unwrap().to_owned()
}

#[test]
fn dcap_qvl_bundles_parse_with_the_signed_text_unchanged() {
    for name in BUNDLES {
        let collateral = qvl(name);
        assert_eq!(collateral.tcb_info, raw_field(name, "tcb_info"), "{name}");
        assert_eq!(
            collateral.qe_identity,
            raw_field(name, "qe_identity"),
            "{name}"
        );
        assert_eq!(collateral.tcb_info_signature.len(), 64, "{name}");
        assert_eq!(collateral.qe_identity_signature.len(), 64, "{name}");
        for chain in [
            &collateral.tcb_info_issuer_chain,
            &collateral.qe_identity_issuer_chain,
            &collateral.pck_crl_issuer_chain,
        ] {
            assert_eq!(chain.len(), 2, "{name}: signing cert and root");
            assert!(chain.iter().all(|der| der.first() == Some(&0x30)), "{name}");
        }
        assert_eq!(collateral.pck_crl.first(), Some(&0x30), "{name}");
        assert_eq!(collateral.root_ca_crl.first(), Some(&0x30), "{name}");
    }
}

#[test]
fn the_root_is_last_in_every_chain() {
    let root = pem::parse(shared("collateral/intel/derived/intel_sgx_root_ca.pem")).unwrap();
    let collateral = qvl("tdx_quote_4");
    assert_eq!(
        collateral.tcb_info_issuer_chain.last().unwrap(),
        root.contents()
    );
    assert_eq!(
        collateral.pck_crl_issuer_chain.last().unwrap(),
        root.contents()
    );
}

#[test]
fn pcs_and_dcap_qvl_bundles_yield_identical_collateral() {
    for name in BUNDLES {
        let pcs = Bundle::parse(&bundle_text(name, "pcs"), name).unwrap();
        assert!(matches!(pcs, Bundle::Pcs(_)), "{name}");
        for update in [TcbUpdateType::Early, TcbUpdateType::Standard] {
            let from_pcs = pcs.select(&request_for(name), update, name).unwrap();
            assert_eq!(from_pcs, qvl(name), "{name} {update:?}");
        }
    }
}

#[test]
fn a_dcap_qvl_bundle_knows_what_it_is_for() {
    for name in BUNDLES {
        let bundle = Bundle::parse(&bundle_text(name, "dcap-qvl"), name).unwrap();
        let Bundle::Single { tee, fmspc, ca, .. } = &bundle else {
            panic!("{name}: not a single bundle");
        };
        let expected = request_for(name);
        assert_eq!(
            (*tee, *fmspc, *ca),
            (expected.tee, expected.fmspc, expected.ca)
        );
        let selected = bundle
            .select(&expected, TcbUpdateType::Early, name)
            .unwrap();
        assert_eq!(selected, qvl(name));
    }
}

fn not_found_what(result: Result<DcapCollateral, CollateralError>) -> &'static str {
    match result {
        Err(CollateralError::Intel(IntelCollateralError::NotFound { what, .. })) => what,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn bundles_refuse_requests_for_another_platform_naming_the_part() {
    for format in ["pcs", "dcap-qvl"] {
        let bundle = Bundle::parse(&bundle_text("tdx_quote_4", format), "b").unwrap();
        let request = request_for("tdx_quote_4");
        let other_fmspc = CollateralRequest {
            fmspc: [0x50, 0x80, 0x6f, 0, 0, 1],
            ..request
        };
        let sgx = CollateralRequest {
            tee: DcapTee::Sgx,
            ..request
        };
        let processor = CollateralRequest {
            ca: PckCa::Processor,
            ..request
        };
        let select = |r: &CollateralRequest| bundle.select(r, TcbUpdateType::Early, "b");
        assert_eq!(
            not_found_what(select(&other_fmspc)),
            "tcb info for this fmspc"
        );
        assert_eq!(not_found_what(select(&sgx)), "tcb info for this tee");
        assert!(
            not_found_what(select(&processor)).starts_with("pck crl"),
            "{format}"
        );
    }
}

#[test]
fn not_found_names_the_request_and_the_source() {
    let bundle = Bundle::parse(&bundle_text("occlum_quote", "pcs"), "occlum.pcs.json").unwrap();
    let err = bundle
        .select(
            &request_for("tdx_quote_4"),
            TcbUpdateType::Early,
            "occlum.pcs.json",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no tcb info for this fmspc for tdx fmspc 50806F000000 (platform ca) in occlum.pcs.json"
    );
}

/// URL-encoded PEM of a DER chain, as PCS headers and PCS client files carry it.
pub(crate) fn url_encoded_chain(chain: &[Vec<u8>]) -> String {
    let pem: String = chain
        .iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
        .collect();
    percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A PCS client file written from `c` (a TDX TCB info, Platform CA), with `_early` entries
/// whose signatures are all 0xee when `early`, so tests can tell which one was picked.
fn pcs_file(c: &DcapCollateral, fmspc: &str, standard: bool, early: bool) -> String {
    let signed = |key: &str, text: &str, signature: &str| {
        format!(
            r#""{key}":{{"{}":{text},"signature":"{signature}"}}"#,
            if key.contains("tcbinfo") {
                "tcbInfo"
            } else {
                "enclaveIdentity"
            }
        )
    };
    let (tcb_sig, qe_sig, marker) = (
        hex::encode(&c.tcb_info_signature),
        hex::encode(&c.qe_identity_signature),
        "ee".repeat(64),
    );
    let mut tcb = vec![format!(r#""fmspc":"{fmspc}""#)];
    let mut qe = Vec::new();
    if standard {
        tcb.push(signed("tdx_tcbinfo", &c.tcb_info, &tcb_sig));
        qe.push(signed("tdqeidentity", &c.qe_identity, &qe_sig));
    }
    if early {
        tcb.push(signed("tdx_tcbinfo_early", &c.tcb_info, &marker));
        qe.push(signed("tdqeidentity_early", &c.qe_identity, &marker));
    }
    format!(
        r#"{{"collaterals":{{"tcbinfos":[{{{}}}],{},"pckcacrl":{{"processorCrl":"","platformCrl":"{}"}},
        "certificates":{{"TCB-Info-Issuer-Chain":"{}","SGX-Enclave-Identity-Issuer-Chain":"{}",
        "SGX-PCK-Certificate-Issuer-Chain":{{"PROCESSOR":"","PLATFORM":"{}"}}}},"rootcacrl":"{}"}}}}"#,
        tcb.join(","),
        qe.join(","),
        hex::encode(&c.pck_crl),
        url_encoded_chain(&c.tcb_info_issuer_chain),
        url_encoded_chain(&c.qe_identity_issuer_chain),
        url_encoded_chain(&c.pck_crl_issuer_chain),
        hex::encode(&c.root_ca_crl),
    )
}

#[test]
fn a_written_pcs_file_round_trips() {
    let c = qvl("tdx_quote_6");
    let bundle = Bundle::parse(&pcs_file(&c, "00a06d080000", true, false), "f").unwrap();
    let request = request_for("tdx_quote_6");
    assert_eq!(
        bundle.select(&request, TcbUpdateType::Early, "f").unwrap(),
        c
    );
}

#[test]
fn early_entries_are_preferred_for_early_and_ignored_for_standard() {
    let c = qvl("tdx_quote_6");
    let bundle = Bundle::parse(&pcs_file(&c, "00A06D080000", true, true), "f").unwrap();
    let request = request_for("tdx_quote_6");
    let early = bundle.select(&request, TcbUpdateType::Early, "f").unwrap();
    assert_eq!(early.tcb_info_signature, vec![0xee; 64]);
    assert_eq!(early.qe_identity_signature, vec![0xee; 64]);
    let standard = bundle
        .select(&request, TcbUpdateType::Standard, "f")
        .unwrap();
    assert_eq!(standard, c);
}

#[test]
fn standard_requests_do_not_fall_back_to_early_entries() {
    let c = qvl("tdx_quote_6");
    let bundle = Bundle::parse(&pcs_file(&c, "00A06D080000", false, true), "f").unwrap();
    let request = request_for("tdx_quote_6");
    assert_eq!(
        not_found_what(bundle.select(&request, TcbUpdateType::Standard, "f")),
        "tcb info for this tee"
    );
    assert!(bundle.select(&request, TcbUpdateType::Early, "f").is_ok());
}

#[test]
fn compacting_keeps_strings_and_escapes() {
    assert_eq!(
        compact("{ \"a\" : [ 1 ,\n\t2 ],\r\n \"b c\": \"x \\\" y\\\\\", \"d\":\"\\\\\" }"),
        "{\"a\":[1,2],\"b c\":\"x \\\" y\\\\\",\"d\":\"\\\\\"}"
    );
    for name in BUNDLES {
        let signed = raw_field(name, "tcb_info");
        assert_eq!(compact(&signed), signed, "Intel's text is already compact");
    }
}

fn malformed_what(err: CollateralError) -> &'static str {
    match err {
        CollateralError::Intel(IntelCollateralError::Malformed { what, .. }) => what,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn malformed_dcap_qvl_fields_are_named() {
    let text = bundle_text("tdx_quote_4", "dcap-qvl");
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["tcb_info_signature"] = "zz".into();
    let err = DcapCollateral::from_dcap_qvl_json(&value.to_string()).unwrap_err();
    assert_eq!(malformed_what(err), "tcb info signature");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["pck_crl_issuer_chain"] =
        "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n".into();
    let err = DcapCollateral::from_dcap_qvl_json(&value.to_string()).unwrap_err();
    assert_eq!(malformed_what(err), "pck crl issuer chain");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["root_ca_crl"] = "6869".into();
    let err = DcapCollateral::from_dcap_qvl_json(&value.to_string()).unwrap_err();
    assert_eq!(malformed_what(err), "root ca crl");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("qe_identity");
    let err = DcapCollateral::from_dcap_qvl_json(&value.to_string()).unwrap_err();
    assert_eq!(malformed_what(err), "dcap-qvl collateral");
    assert!(err_text(&value).contains("qe_identity"));
}

fn err_text(value: &serde_json::Value) -> String {
    DcapCollateral::from_dcap_qvl_json(&value.to_string())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_pcs_fields_are_named() {
    let text = bundle_text("tdx_quote_4", "pcs");
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["collaterals"]["certificates"]["TCB-Info-Issuer-Chain"] = "%ZZnot pem".into();
    let err = Bundle::parse(&value.to_string(), "f").unwrap_err();
    assert_eq!(malformed_what(err), "tcb info issuer chain");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["collaterals"]["tcbinfos"][0]["fmspc"] = "50806f".into();
    let err = Bundle::parse(&value.to_string(), "f").unwrap_err();
    assert_eq!(malformed_what(err), "fmspc");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["collaterals"]["pckcacrl"]["platformCrl"] = "nothex".into();
    let err = Bundle::parse(&value.to_string(), "f").unwrap_err();
    assert_eq!(malformed_what(err), "platform pck crl");
}

#[test]
fn crls_are_accepted_as_der_pem_or_hex() {
    let der = qvl("tdx_quote_4").pck_crl;
    let pem_text = pem::encode(&pem::Pem::new("X509 CRL", der.clone()));
    for input in [
        der.clone(),
        hex::encode(&der).into_bytes(),
        pem_text.clone().into_bytes(),
        hex::encode(pem_text.as_bytes()).into_bytes(),
    ] {
        assert_eq!(bundle::crl_der(input, "pck crl", "t").unwrap(), der);
    }
    let cert = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
    assert_eq!(
        malformed_what(bundle::crl_der(cert.into_bytes(), "pck crl", "t").unwrap_err()),
        "pck crl"
    );
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

#[test]
fn next_update_is_the_earliest_of_the_four() {
    // tdx_quote_4: QE identity 2023-07-08T07:24:59Z, PCK CRL 07:27:52, TCB info 07-18.
    assert_eq!(
        qvl("tdx_quote_4").next_update().unwrap(),
        unix("2023-07-08T07:24:59Z")
    );
    // occlum: QE identity 2025-09-14T04:36:46Z, TCB info 05:08:18, PCK CRL 05:41:26.
    assert_eq!(
        qvl("occlum_quote").next_update().unwrap(),
        unix("2025-09-14T04:36:46Z")
    );
    // When the PCK CRL is the earliest, it decides.
    let mut collateral = qvl("tdx_quote_4");
    collateral.qe_identity = collateral
        .qe_identity
        .replace("2023-07-08T07:24:59Z", "2023-07-09T00:00:00Z");
    assert_eq!(
        collateral.next_update().unwrap(),
        unix("2023-07-08T07:27:52Z")
    );
}

#[test]
fn load_bundle_reads_both_formats_from_disk() {
    for format in ["pcs", "dcap-qvl"] {
        let path = shared_path(&format!(
            "collateral/intel/bundles/tdx_quote_5.{format}.json"
        ));
        let bundle = load_bundle(&path).unwrap();
        let collateral = bundle
            .select(
                &request_for("tdx_quote_5"),
                TcbUpdateType::Early,
                "tdx_quote_5",
            )
            .unwrap();
        assert_eq!(collateral, qvl("tdx_quote_5"), "{format}");
    }
    let err = load_bundle(&shared_path("collateral/intel/bundles/none.json")).unwrap_err();
    assert!(matches!(err, CollateralError::Io { .. }), "{err:?}");
}

#[test]
fn pck_ca_comes_from_the_issuer_common_name() {
    assert_eq!(
        PckCa::from_issuer_cn("Intel SGX PCK Platform CA"),
        Some(PckCa::Platform)
    );
    assert_eq!(
        PckCa::from_issuer_cn("Intel SGX PCK Processor CA"),
        Some(PckCa::Processor)
    );
    assert_eq!(PckCa::from_issuer_cn("Intel SGX Root CA"), None);
    for ca in [PckCa::Processor, PckCa::Platform] {
        assert_eq!(PckCa::from_issuer_cn(ca.common_name()), Some(ca));
    }
}
