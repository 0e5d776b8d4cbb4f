//! Quote layout tests on the real samples of shared/testdata, plus truncation and garbling.

use crate::dcap::quote::{MAX_QUOTE_LEN, TEE_TYPE_TDX};
use crate::dcap::{DcapError, Quote, QuoteBody};
use crate::test_support::shared;

pub(super) const TDX_QUOTE_4: &str = "evidence/tdx/tdx_quote_4.dat";
pub(super) const TDX_QUOTE_5: &str = "evidence/tdx/tdx_quote_5.dat";
pub(super) const TDX_QUOTE_6: &str = "evidence/tdx/tdx_quote_6.dat";
pub(super) const AZ_TD_QUOTE: &str = "evidence/az-tdx-vtpm/td-quote.bin";
pub(super) const OCCLUM_QUOTE: &str = "evidence/sgx/occlum_quote.dat";

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn parses_tdx_quote_v4_with_td10_body() {
    let quote = Quote::parse(&shared(TDX_QUOTE_4)).unwrap();
    assert_eq!(quote.header.version, 4);
    assert_eq!(quote.header.tee_type, TEE_TYPE_TDX);
    assert!(quote.body_descriptor.is_none());
    let QuoteBody::Td10(td) = &quote.body else {
        panic!("expected a TD 1.0 body, got {:?}", quote.body)
    };
    assert_eq!(
        hex_of(&td.mr_td),
        "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031"
    );
    assert_eq!(
        hex_of(&td.mr_seam),
        "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656"
    );
    assert_eq!(hex_of(&td.tee_tcb_svn), "03000500000000000000000000000000");
    assert_eq!(hex_of(&td.td_attributes), "0100001000000000");
    assert_eq!(hex_of(&td.xfam), "e742060000000000");
    assert!(td.is_debug());
    assert_eq!(
        hex_of(&td.rtmr[1]),
        "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596"
    );
    assert_eq!(
        hex_of(quote.body.report_data()),
        "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429"
    );
    assert_eq!(quote.signed_bytes().len(), 48 + 584);
    assert_eq!(quote.pck_chain_der().len(), 3);
    assert_eq!(quote.qe_auth_data.len(), 32);
}

#[test]
fn parses_tdx_quote_v5_with_td15_body() {
    let quote = Quote::parse(&shared(TDX_QUOTE_5)).unwrap();
    assert_eq!(quote.header.version, 5);
    let descriptor = quote.body_descriptor.unwrap();
    assert_eq!((descriptor.body_type, descriptor.size), (3, 648));
    let QuoteBody::Td15(td) = &quote.body else {
        panic!("expected a TD 1.5 body, got {:?}", quote.body)
    };
    assert_eq!(
        hex_of(&td.td10.mr_td),
        "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a"
    );
    assert_eq!(
        hex_of(&td.td10.tee_tcb_svn),
        "05010200000000000000000000000000"
    );
    assert_eq!(
        hex_of(&td.mr_servicetd),
        "383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d"
    );
    assert!(!td.td10.is_debug());
    // v5 signs the body descriptor too.
    assert_eq!(quote.signed_bytes().len(), 48 + 6 + 648);
    assert_eq!(quote.body.td_report(), Some(&td.td10));
}

#[test]
fn parses_tdx_quote_with_zero_padding_after_signature_data() {
    for path in [TDX_QUOTE_6, AZ_TD_QUOTE] {
        let bytes = shared(path);
        assert_eq!(&bytes[bytes.len() - 70..], &[0u8; 70][..], "{path}");
        let quote = Quote::parse(&bytes).unwrap();
        assert_eq!(quote.header.version, 4, "{path}");
    }
}

#[test]
fn rejects_non_zero_bytes_after_signature_data() {
    let mut bytes = shared(TDX_QUOTE_6);
    let last = bytes.len() - 1;
    bytes[last] = 1;
    assert!(matches!(
        Quote::parse(&bytes),
        Err(DcapError::TrailingBytes {
            field: "signature data",
            ..
        })
    ));
}

#[test]
fn parses_sgx_quote_v3() {
    let quote = Quote::parse(&shared(OCCLUM_QUOTE)).unwrap();
    assert_eq!(quote.header.version, 3);
    assert!(!quote.is_tdx());
    let report = quote.body.enclave_report().unwrap();
    assert_eq!(
        hex_of(&report.mr_enclave),
        "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68"
    );
    assert_eq!(
        hex_of(&report.mr_signer),
        "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e"
    );
    assert_eq!(hex_of(&report.attributes_flags()), "0700000000000000");
    assert!(report.is_debug());
    assert_eq!((report.isv_prod_id, report.isv_svn), (0, 0));
    assert_eq!(&report.report_data[..5], b"test\0");
    assert_eq!(quote.signed_bytes().len(), 48 + 384);
    assert_eq!(quote.pck_chain_der().len(), 3);
}

#[test]
fn every_truncation_fails_without_panicking() {
    for path in [TDX_QUOTE_4, TDX_QUOTE_5, OCCLUM_QUOTE] {
        let bytes = shared(path);
        for len in 0..bytes.len() {
            let err = Quote::parse(&bytes[..len]).unwrap_err();
            assert!(
                matches!(
                    err,
                    DcapError::Truncated { .. } | DcapError::PckChainMalformed { .. }
                ),
                "{path} cut at {len}: {err}"
            );
        }
    }
}

#[test]
fn truncation_in_each_region_names_the_field() {
    let bytes = shared(TDX_QUOTE_4);
    let cases = [
        (9, "header qe_svn"),
        (48 + 584 + 4 + 128 + 6 + 100, "signature data"),
        (48 + 50, "td report mr_seam"),
        (48 + 584 + 2, "signature data length"),
        (48 + 584 + 4 + 10, "signature data"),
    ];
    for (len, field) in cases {
        let err = Quote::parse(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, DcapError::Truncated { field: f, .. } if f == field),
            "cut at {len}: {err}"
        );
    }
}

#[test]
fn garbled_bytes_never_panic() {
    // Flip every byte of the header, body descriptor, length fields and certification data
    // headers (where lengths and types live) and a sample of the rest.
    for path in [TDX_QUOTE_4, TDX_QUOTE_5, OCCLUM_QUOTE] {
        let bytes = shared(path);
        for i in 0..bytes.len() {
            if i > 1400 && i % 37 != 0 {
                continue;
            }
            for flip in [0x01u8, 0x80, 0xff] {
                let mut garbled = bytes.clone();
                garbled[i] ^= flip;
                let _ = Quote::parse(&garbled);
            }
        }
    }
}

#[test]
fn rejects_inflated_lengths() {
    let bytes = shared(TDX_QUOTE_4);
    // Signature data length is at offset 632.
    let mut inflated = bytes.clone();
    inflated[632..636].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Quote::parse(&inflated),
        Err(DcapError::Truncated {
            field: "signature data",
            ..
        })
    ));
    // Outer certification data size: after quote sig (64) and key (64) and type (2).
    let off = 636 + 128 + 2;
    let mut inflated = bytes.clone();
    inflated[off..off + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Quote::parse(&inflated),
        Err(DcapError::Truncated {
            field: "certification data",
            ..
        })
    ));
}

#[test]
fn rejects_unknown_versions_key_types_and_body_types() {
    let bytes = shared(TDX_QUOTE_5);
    let mut v = bytes.clone();
    v[0] = 6;
    assert_eq!(
        Quote::parse(&v),
        Err(DcapError::UnsupportedVersion { version: 6 })
    );
    let mut k = bytes.clone();
    k[2] = 3;
    assert_eq!(
        Quote::parse(&k),
        Err(DcapError::UnsupportedAttestationKeyType { att_key_type: 3 })
    );
    let mut t = bytes.clone();
    t[4] = 0x80;
    assert_eq!(
        Quote::parse(&t),
        Err(DcapError::UnsupportedTeeType {
            version: 5,
            tee_type: 0x80
        })
    );
    let mut b = bytes.clone();
    b[48] = 7;
    assert_eq!(
        Quote::parse(&b),
        Err(DcapError::UnsupportedBodyType { body_type: 7 })
    );
    let mut s = bytes.clone();
    s[50] = 0x49; // 648 = 0x288 -> 0x249
    assert!(matches!(
        Quote::parse(&s),
        Err(DcapError::BodySizeMismatch {
            body_type: 3,
            expected: 648,
            ..
        })
    ));
}

#[test]
fn rejects_oversized_input() {
    let bytes = vec![0u8; MAX_QUOTE_LEN + 1];
    assert!(matches!(
        Quote::parse(&bytes),
        Err(DcapError::QuoteTooLarge { .. })
    ));
}

#[test]
fn rejects_wrong_certification_data_types() {
    let bytes = shared(TDX_QUOTE_4);
    let outer_type = 636 + 128;
    let mut outer = bytes.clone();
    outer[outer_type] = 5;
    assert_eq!(
        Quote::parse(&outer),
        Err(DcapError::UnsupportedCertificationDataType {
            cert_data_type: 5,
            place: "outer"
        })
    );
    // Inner type: after outer header (6), QE report (384), sig (64), auth len (2) + 32.
    let inner_type = outer_type + 6 + 384 + 64 + 2 + 32;
    let mut inner = bytes.clone();
    inner[inner_type] = 4;
    assert_eq!(
        Quote::parse(&inner),
        Err(DcapError::UnsupportedCertificationDataType {
            cert_data_type: 4,
            place: "inner"
        })
    );
}
