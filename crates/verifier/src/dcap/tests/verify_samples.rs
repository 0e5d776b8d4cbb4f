//! Every tdx / sgx / az-tdx-vtpm TD quote of shared/testdata against its dcap-qvl bundle at
//! the manifest's verification time (testdata README §3, §4).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::quote_parse::{AZ_TD_QUOTE, OCCLUM_QUOTE, TDX_QUOTE_4, TDX_QUOTE_5, TDX_QUOTE_6};
use crate::collateral::intel::{DcapCollateral, DcapTee, PckCa};
use crate::dcap::{
    CurrentTcb, DcapError, Quote, SgxType, TcbStatus, VerifiedCollateral, collateral_request,
    verify, verify_with_collateral,
};
use crate::test_support::shared;

/// One manifest row: quote file, bundle name, verification time.
pub(super) struct Sample {
    pub(super) quote: &'static str,
    pub(super) bundle: &'static str,
    pub(super) time: &'static str,
}

pub(super) const TDX4: Sample = Sample {
    quote: TDX_QUOTE_4,
    bundle: "tdx_quote_4",
    time: "2023-06-28T00:00:00Z",
};
pub(super) const TDX5: Sample = Sample {
    quote: TDX_QUOTE_5,
    bundle: "tdx_quote_5",
    time: "2026-03-01T00:00:00Z",
};
pub(super) const TDX6: Sample = Sample {
    quote: TDX_QUOTE_6,
    bundle: "tdx_quote_6",
    time: "2025-11-05T00:00:00Z",
};
pub(super) const AZ: Sample = Sample {
    quote: AZ_TD_QUOTE,
    bundle: "az-tdx-vtpm_td-quote",
    time: "2025-11-05T00:00:00Z",
};
pub(super) const OCCLUM: Sample = Sample {
    quote: OCCLUM_QUOTE,
    bundle: "occlum_quote",
    time: "2025-09-01T00:00:00Z",
};

impl Sample {
    pub(super) fn quote(&self) -> Quote {
        Quote::parse(&shared(self.quote)).unwrap()
    }

    pub(super) fn collateral(&self) -> DcapCollateral {
        let path = format!("collateral/intel/bundles/{}.dcap-qvl.json", self.bundle);
        let text = String::from_utf8(shared(&path)).unwrap();
        DcapCollateral::from_dcap_qvl_json(&text).unwrap()
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        at(self.time)
    }
}

pub(super) fn at(time: &str) -> OffsetDateTime {
    OffsetDateTime::parse(time, &Rfc3339).unwrap()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[test]
fn tdx_quote_4_verifies_up_to_date() {
    let verified = verify(TDX4.quote(), &TDX4.collateral(), TDX4.now()).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::UpToDate);
    assert_eq!(verified.tcb_status.to_string(), "UpToDate");
    assert!(verified.advisory_ids.is_empty());
    assert_eq!(hex::encode_upper(verified.fmspc), "50806F000000");
    assert_eq!(verified.pck_ca, PckCa::Platform);
    assert_eq!(verified.tcb_date.as_deref(), Some("2023-02-15T00:00:00Z"));
    assert!(!verified.collateral_expired);
    // TDX 1.0 module (tee_tcb_svn[1] == 0): no module identity level.
    assert_eq!(verified.tdx_module_tcb_status, None);
    assert_eq!(
        verified
            .pck
            .platform_instance_id
            .map(hex::encode)
            .as_deref(),
        Some("021ac64d355ba904e2d5948d228d5482")
    );
    assert_eq!(verified.tcb_eval_num, 15);
    // A TD 1.0 body: the current TCB is the launch TCB.
    assert_eq!(
        verified.current,
        CurrentTcb {
            status: TcbStatus::UpToDate,
            advisory_ids: Vec::new(),
            tcb_date: Some("2023-02-15T00:00:00Z".into()),
        }
    );
    // A debug TD is not rejected: it is a claim for policy.
    assert!(verified.quote.body.td_report().unwrap().is_debug());
}

#[test]
fn tdx_quote_5_fails_tcb_level_matching() {
    // testdata README §8.3: the PCK cpusvn is below every level of the only 90C06F TCB Info.
    let err = verify(TDX5.quote(), &TDX5.collateral(), TDX5.now()).unwrap_err();
    assert_eq!(err, DcapError::TcbLevelNotFound);
}

#[test]
fn tdx_quote_5_passes_every_check_before_tcb_matching() {
    // The non-zero mr_servicetd is no reason to fail: everything up to the TCB level holds.
    let quote = TDX5.quote();
    assert_eq!(
        hex::encode_upper(collateral_request(&quote).unwrap().fmspc),
        "90C06F000000"
    );
    let collateral = VerifiedCollateral::verify(&TDX5.collateral()).unwrap();
    assert!(!collateral.expired_at(TDX5.now().unix_timestamp()));
    assert_eq!(
        verify_with_collateral(quote, &collateral, TDX5.now()).unwrap_err(),
        DcapError::TcbLevelNotFound
    );
}

#[test]
fn tdx_quote_6_verifies_out_of_date_with_tdx_module_identity() {
    let verified = verify(TDX6.quote(), &TDX6.collateral(), TDX6.now()).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
    assert!(verified.advisory_ids.is_empty());
    assert_eq!(hex::encode_upper(verified.fmspc), "00A06D080000");
    assert_eq!(verified.pck_ca, PckCa::Platform);
    assert_eq!(verified.tcb_date.as_deref(), Some("2018-01-04T00:00:00Z"));
    // tee_tcb_svn 05 03 ..: module TDX_03, minor SVN 5 -> UpToDate level.
    assert_eq!(verified.tdx_module_tcb_status, Some(TcbStatus::UpToDate));
    assert_eq!(verified.qe_tcb_status, TcbStatus::UpToDate);
    assert_eq!(
        verified
            .pck
            .platform_instance_id
            .map(hex::encode)
            .as_deref(),
        Some("02eaf5ba6b16c479d53c39d74a1e1999")
    );
    // Quote v4 (TD 1.0 body) with a module identity: the current TCB is the launch TCB.
    assert_eq!(
        verified.current,
        CurrentTcb {
            status: TcbStatus::OutOfDate,
            advisory_ids: Vec::new(),
            tcb_date: Some("2018-01-04T00:00:00Z".into()),
        }
    );
}

#[test]
fn azure_td_quote_verifies_out_of_date_with_advisories() {
    let verified = verify(AZ.quote(), &AZ.collateral(), AZ.now()).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
    assert_eq!(
        verified.advisory_ids,
        strings(&["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"])
    );
    assert_eq!(verified.current.status, TcbStatus::OutOfDate);
    assert_eq!(verified.current.advisory_ids, verified.advisory_ids);
    assert_eq!(verified.current.tcb_date, verified.tcb_date);
    assert!(verified.current.tcb_date.is_some());
    assert_eq!(hex::encode_upper(verified.fmspc), "00806F050000");
    assert_eq!(verified.pck_ca, PckCa::Platform);
    // SEPT_VE_DISABLE is 0 in this TD; not our call (policy's).
    assert_eq!(
        verified.quote.body.td_report().unwrap().td_attributes,
        [0; 8]
    );
}

#[test]
fn occlum_sgx_quote_verifies_out_of_date_with_advisories() {
    let verified = verify(OCCLUM.quote(), &OCCLUM.collateral(), OCCLUM.now()).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
    assert_eq!(
        verified.advisory_ids,
        strings(&[
            "INTEL-SA-00586",
            "INTEL-SA-00614",
            "INTEL-SA-00615",
            "INTEL-SA-00657",
            "INTEL-SA-00730",
            "INTEL-SA-00738",
            "INTEL-SA-00767",
            "INTEL-SA-00828",
            "INTEL-SA-00837",
            "INTEL-SA-00960",
        ])
    );
    assert_eq!(hex::encode_upper(verified.fmspc), "00606A000000");
    assert_eq!(verified.pck_ca, PckCa::Platform);
    assert_eq!(verified.tcb_date.as_deref(), Some("2021-11-10T00:00:00Z"));
    // SGX: the current TCB is the launch TCB.
    assert_eq!(verified.current.status, TcbStatus::OutOfDate);
    assert_eq!(verified.current.advisory_ids, verified.advisory_ids);
    assert_eq!(
        verified.current.tcb_date.as_deref(),
        Some("2021-11-10T00:00:00Z")
    );
    // 00606A is an Ice Lake server: scalable SGX.
    assert_eq!(verified.pck.sgx_type, SgxType::Scalable);
    assert_eq!(
        verified
            .pck
            .platform_instance_id
            .map(hex::encode)
            .as_deref(),
        Some("c8c0cfb23d3dd90b06d55c0641693a7a")
    );
    // Debug enclave: accepted here, a claim for policy.
    assert!(verified.quote.body.enclave_report().unwrap().is_debug());
}

#[test]
fn collateral_request_reads_the_pck_certificate() {
    let cases = [
        (&TDX4, DcapTee::Tdx, "50806F000000"),
        (&TDX5, DcapTee::Tdx, "90C06F000000"),
        (&TDX6, DcapTee::Tdx, "00A06D080000"),
        (&AZ, DcapTee::Tdx, "00806F050000"),
        (&OCCLUM, DcapTee::Sgx, "00606A000000"),
    ];
    for (sample, tee, fmspc) in cases {
        let request = collateral_request(&sample.quote()).unwrap();
        assert_eq!(request.tee, tee, "{}", sample.bundle);
        assert_eq!(request.fmspc_hex(), fmspc, "{}", sample.bundle);
        assert_eq!(request.ca, PckCa::Platform, "{}", sample.bundle);
    }
}

#[test]
fn supplemental_values_come_from_the_collateral() {
    let verified = verify(TDX6.quote(), &TDX6.collateral(), TDX6.now()).unwrap();
    assert_eq!(verified.tcb_eval_num, 17);
    assert!(verified.pck_crl_num.is_some());
    assert!(verified.root_ca_crl_num.is_some());
    assert!(verified.earliest_issue_date <= verified.latest_issue_date);
    assert!(verified.latest_issue_date <= TDX6.now());
    assert!(verified.earliest_expiration_date >= TDX6.now());
    assert_eq!(
        verified.earliest_expiration_date,
        at("2025-11-12T10:45:32Z"),
        "the manifest's window ends at the PCK CRL's nextUpdate"
    );
}
