//! The PCK SGX extension and the TCB Info / QE Identity parsers on their own.

use super::verify_samples::{OCCLUM, TDX4, TDX6};
use crate::collateral::intel::DcapTee;
use crate::dcap::pck::SGX_EXTENSION;
use crate::dcap::x509::DcapCert;
use crate::dcap::{
    CertRole, DcapError, PckExtension, QeIdentity, SgxType, SignedCollateral, TcbInfo, TcbStatus,
};

fn extension_der(sample: &super::verify_samples::Sample) -> Vec<u8> {
    let quote = sample.quote();
    let leaf = DcapCert::parse(&quote.pck_chain[0], CertRole::PckLeaf).unwrap();
    leaf.extension(SGX_EXTENSION)
        .unwrap()
        .extn_value
        .as_bytes()
        .to_vec()
}

#[test]
fn pck_extension_of_tdx_quote_4() {
    let pck = PckExtension::parse(&extension_der(&TDX4)).unwrap();
    assert_eq!(hex::encode(pck.ppid), "df4c32a9d8d86009aaf380ec43cfcefb");
    assert_eq!(
        pck.tcb_components,
        [5, 5, 13, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(pck.pce_svn, 11);
    assert_eq!(pck.cpu_svn, pck.tcb_components);
    assert_eq!(pck.pce_id, [0, 0]);
    assert_eq!(hex::encode(pck.fmspc), "50806f000000");
    assert_eq!(pck.sgx_type, SgxType::Scalable);
    assert_eq!(pck.sgx_type.to_string(), "Scalable");
    assert_eq!(
        pck.platform_instance_id.map(hex::encode).as_deref(),
        Some("021ac64d355ba904e2d5948d228d5482")
    );
    let configuration = pck.configuration.unwrap();
    assert_eq!(configuration.dynamic_platform, Some(true));
    assert_eq!(configuration.cached_keys, Some(true));
    assert!(configuration.smt_enabled.is_some());
}

#[test]
fn pck_extension_of_the_sgx_sample() {
    let pck = PckExtension::parse(&extension_der(&OCCLUM)).unwrap();
    assert_eq!(
        pck.tcb_components,
        [4, 4, 3, 3, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(pck.pce_svn, 11);
    assert_eq!(hex::encode(pck.fmspc), "00606a000000");
}

#[test]
fn pck_extension_without_fields_names_the_missing_one() {
    assert_eq!(
        PckExtension::parse(&[0x30, 0x00]),
        Err(DcapError::PckExtensionMalformed { field: "tcb" })
    );
    assert_eq!(
        PckExtension::parse(&[0x04, 0x00]),
        Err(DcapError::PckExtensionMalformed { field: "extension" })
    );
}

#[test]
fn garbled_or_truncated_pck_extension_never_panics() {
    let der = extension_der(&TDX6);
    for len in 0..der.len() {
        assert!(PckExtension::parse(&der[..len]).is_err(), "cut at {len}");
    }
    for i in 0..der.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut garbled = der.clone();
            garbled[i] ^= flip;
            let _ = PckExtension::parse(&garbled);
        }
    }
}

#[test]
fn tcb_info_and_qe_identity_parse_from_the_signed_text() {
    let collateral = TDX6.collateral();
    let tcb_info = TcbInfo::parse(&collateral.tcb_info).unwrap();
    assert_eq!(tcb_info.tee, DcapTee::Tdx);
    assert_eq!(hex::encode_upper(tcb_info.fmspc), "00A06D080000");
    assert_eq!(tcb_info.tcb_evaluation_data_number, 17);
    assert_eq!(tcb_info.levels.len(), 2);
    assert_eq!(tcb_info.levels[0].status, TcbStatus::UpToDate);
    assert!(tcb_info.levels[0].tdx_components.is_some());
    let ids: Vec<&str> = tcb_info
        .tdx_module_identities
        .iter()
        .map(|identity| identity.id.as_str())
        .collect();
    assert_eq!(ids, ["TDX_03", "TDX_01"]);
    let qe = QeIdentity::parse(&collateral.qe_identity).unwrap();
    assert_eq!(qe.tee, DcapTee::Tdx);
    assert_eq!(qe.isv_prod_id, 2);
    assert_eq!(qe.levels[0].isv_svn, 4);

    let sgx = TcbInfo::parse(&OCCLUM.collateral().tcb_info).unwrap();
    assert_eq!(sgx.tee, DcapTee::Sgx);
    assert!(
        sgx.levels
            .iter()
            .all(|level| level.tdx_components.is_none())
    );
    assert_eq!(sgx.levels[0].status, TcbStatus::SwHardeningNeeded);
}

#[test]
fn tcb_info_of_another_version_or_status_is_refused() {
    let text = TDX6.collateral().tcb_info;
    let v2 = text.replacen("\"version\":3", "\"version\":2", 1);
    assert_ne!(v2, text);
    assert!(matches!(
        TcbInfo::parse(&v2),
        Err(DcapError::CollateralWrongKind {
            document: SignedCollateral::TcbInfo,
            expected: "version 3",
            ..
        })
    ));
    let unknown = text.replacen("\"UpToDate\"", "\"Brilliant\"", 1);
    assert!(matches!(
        TcbInfo::parse(&unknown),
        Err(DcapError::CollateralMalformed {
            document: SignedCollateral::TcbInfo,
            ..
        })
    ));
    assert!(matches!(
        TcbInfo::parse("{"),
        Err(DcapError::CollateralMalformed { .. })
    ));
    let short_fmspc = text.replacen("00A06D080000", "00A06D08", 1);
    assert!(matches!(
        TcbInfo::parse(&short_fmspc),
        Err(DcapError::CollateralMalformed { .. })
    ));
}

#[test]
fn tcb_status_strings_round_trip() {
    for status in [
        TcbStatus::UpToDate,
        TcbStatus::SwHardeningNeeded,
        TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSwHardeningNeeded,
        TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded,
        TcbStatus::TdRelaunchAdvised,
        TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
        TcbStatus::Revoked,
    ] {
        assert_eq!(status.as_str().parse::<TcbStatus>(), Ok(status));
        assert_eq!(status.is_accepted(), status != TcbStatus::Revoked);
    }
    assert_eq!(
        TcbStatus::ConfigurationAndSwHardeningNeeded.to_string(),
        "ConfigurationAndSWHardeningNeeded"
    );
}

#[test]
fn out_of_date_components_converge_as_qvl() {
    use crate::dcap::tcb::converge;
    use TcbStatus::*;
    let cases = [
        (UpToDate, OutOfDate, OutOfDate),
        (SwHardeningNeeded, OutOfDate, OutOfDate),
        (ConfigurationNeeded, OutOfDate, OutOfDateConfigurationNeeded),
        (
            ConfigurationAndSwHardeningNeeded,
            OutOfDate,
            OutOfDateConfigurationNeeded,
        ),
        (OutOfDate, OutOfDate, OutOfDate),
        (ConfigurationNeeded, UpToDate, ConfigurationNeeded),
        (UpToDate, Revoked, Revoked),
    ];
    for (platform, other, expected) in cases {
        assert_eq!(converge(platform, other), expected, "{platform} + {other}");
    }
}

#[test]
fn verification_results_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<crate::dcap::Quote>();
    shareable::<crate::dcap::VerifiedQuote>();
    shareable::<crate::dcap::VerifiedCollateral>();
}
