//! QVL's (DCAP 1.27) current TCB (`tee_tcb_svn2`) of TD 1.5 bodies and the TD relaunch check on
//! the launch and current statuses, on the pure status evaluation with TCB levels and SVNs
//! built here (Intel signs real TCB Info, and no sample is a TD 1.5 quote that verifies; see
//! `status.rs` for the rules and their sources).

use crate::collateral::intel::DcapTee;
use crate::dcap::quote::{EnclaveReport, QuoteBody, TdReport10, TdReport15};
use crate::dcap::status::{CurrentTcb, TcbEvaluation, evaluate, relaunch};
use crate::dcap::tcb::{
    QeIdentity, SvnLevel, TcbInfo, TcbLevel, TcbStatus, TdxModule, TdxModuleIdentity,
};
use crate::dcap::{DcapError, TcbStatus::*};

const QE_SIGNER: [u8; 32] = [0xAA; 32];
const PCK_CPU: [u8; 16] = [3; 16];
const PCK_PCE: u16 = 11;

fn tdx_components(first: u8, third: u8) -> [u8; 16] {
    let mut out = [0; 16];
    out[0] = first;
    out[2] = third;
    out
}

fn level(sgx: u8, tdx: [u8; 16], status: TcbStatus, date: &str) -> TcbLevel {
    TcbLevel {
        sgx_components: [sgx; 16],
        pce_svn: PCK_PCE,
        tdx_components: Some(tdx),
        tcb_date: date.into(),
        status,
        advisory_ids: Vec::new(),
    }
}

fn svn_level(isv_svn: u16, status: TcbStatus, advisory: &str) -> SvnLevel {
    SvnLevel {
        isv_svn,
        tcb_date: "2024-06-01T00:00:00Z".into(),
        status,
        advisory_ids: vec![advisory.into()],
    }
}

const INTEL_MODULE: TdxModule = TdxModule {
    mrsigner: [0; 48],
    attributes: [0; 8],
    attributes_mask: [0xff; 8],
};

/// Newest first: L0 (TDX components 0 and 2 at 7 and 4, UpToDate), L1 (component 2 at 2,
/// OutOfDate), L2 (older SGX components, OutOfDate). Module TDX_01: minor SVN 6 UpToDate,
/// 2 OutOfDate.
fn tcb_info() -> TcbInfo {
    TcbInfo {
        tee: DcapTee::Tdx,
        issue_date: 0,
        next_update: 0,
        fmspc: [0; 6],
        pce_id: [0; 2],
        tcb_evaluation_data_number: 17,
        tdx_module: Some(INTEL_MODULE),
        tdx_module_identities: vec![TdxModuleIdentity {
            id: "TDX_01".into(),
            module: INTEL_MODULE,
            levels: vec![
                svn_level(6, UpToDate, "INTEL-SA-MODULE-NEW"),
                svn_level(2, OutOfDate, "INTEL-SA-MODULE-OLD"),
            ],
        }],
        levels: vec![
            level(3, tdx_components(7, 4), UpToDate, "2025-01-01T00:00:00Z"),
            level(3, tdx_components(0, 2), OutOfDate, "2024-01-01T00:00:00Z"),
            level(2, tdx_components(0, 0), OutOfDate, "2023-01-01T00:00:00Z"),
        ],
    }
}

/// The TD QE: SVN 8 UpToDate, below that OutOfDate.
fn qe_identity() -> QeIdentity {
    QeIdentity {
        tee: DcapTee::Tdx,
        issue_date: 0,
        next_update: 0,
        tcb_evaluation_data_number: 17,
        miscselect: 0,
        miscselect_mask: 0,
        attributes: [0; 16],
        attributes_mask: [0; 16],
        mrsigner: QE_SIGNER,
        isv_prod_id: 2,
        levels: vec![
            svn_level(8, UpToDate, "INTEL-SA-QE"),
            svn_level(0, OutOfDate, "INTEL-SA-QE"),
        ],
    }
}

fn qe_report(isv_svn: u16) -> EnclaveReport {
    EnclaveReport {
        cpu_svn: [0; 16],
        misc_select: 0,
        reserved1: [0; 12],
        isv_ext_prod_id: [0; 16],
        attributes: [0; 16],
        mr_enclave: [0; 32],
        reserved2: [0; 32],
        mr_signer: QE_SIGNER,
        reserved3: [0; 32],
        config_id: [0; 64],
        isv_prod_id: 2,
        isv_svn,
        config_svn: 0,
        reserved4: [0; 42],
        isv_family_id: [0; 16],
        report_data: [0; 64],
    }
}

fn td10(tee_tcb_svn: [u8; 3]) -> TdReport10 {
    let mut svn = [0; 16];
    svn[..3].copy_from_slice(&tee_tcb_svn);
    TdReport10 {
        tee_tcb_svn: svn,
        mr_seam: [0; 48],
        mrsigner_seam: [0; 48],
        seam_attributes: [0; 8],
        td_attributes: [0; 8],
        xfam: [0; 8],
        mr_td: [0; 48],
        mr_config_id: [0; 48],
        mr_owner: [0; 48],
        mr_owner_config: [0; 48],
        rtmr: [[0; 48]; 4],
        report_data: [0; 64],
    }
}

/// A TD 1.5 body launched under `tee_tcb_svn`, now running `tee_tcb_svn2` (bytes 0..3).
fn td15(tee_tcb_svn: [u8; 3], tee_tcb_svn2: [u8; 3]) -> QuoteBody {
    let mut svn2 = [0; 16];
    svn2[..3].copy_from_slice(&tee_tcb_svn2);
    QuoteBody::Td15(TdReport15 {
        td10: td10(tee_tcb_svn),
        tee_tcb_svn2: svn2,
        mr_servicetd: [0; 48],
    })
}

fn run<'a>(
    tcb_info: &'a TcbInfo,
    qe_identity: &'a QeIdentity,
    cpu: [u8; 16],
    body: &QuoteBody,
    qe_svn: u16,
) -> Result<TcbEvaluation<'a>, DcapError> {
    evaluate(
        tcb_info,
        qe_identity,
        &cpu,
        PCK_PCE,
        body,
        &qe_report(qe_svn),
    )
}

fn status_of(body: &QuoteBody) -> TcbStatus {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    run(&tcb_info, &qe_identity, PCK_CPU, body, 8)
        .unwrap()
        .status
}

#[test]
fn td_launched_under_an_out_of_date_module_now_updated_is_relaunch_advised() {
    // Launched: module TDX_01 minor 2 (OutOfDate) on level L0; now minor 6 (the newest).
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15([2, 1, 4], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.status, TdRelaunchAdvised);
    assert_eq!(evaluation.status.to_string(), "TDRelaunchAdvised");
    assert!(evaluation.status.is_accepted());
    // The matched levels are those of the launch TCB: advisories and date stay theirs.
    assert_eq!(evaluation.platform.status, UpToDate);
    assert_eq!(evaluation.module.map(|level| level.status), Some(OutOfDate));
    assert_eq!(evaluation.qe.status, UpToDate);
    assert_eq!(
        evaluation.advisory_ids,
        vec!["INTEL-SA-MODULE-OLD".to_owned(), "INTEL-SA-QE".to_owned()]
    );
    assert_eq!(evaluation.tcb_date.as_deref(), Some("2024-06-01T00:00:00Z"));
    // Whatever made the launch TCB out of date (here also TDX component 2 at level L1), an
    // up-to-date current TCB advises relaunch.
    assert_eq!(status_of(&td15([2, 1, 2], [6, 1, 4])), TdRelaunchAdvised);
    assert_eq!(status_of(&td15([2, 1, 4], [9, 1, 9])), TdRelaunchAdvised);
}

#[test]
fn configuration_needed_of_the_sgx_or_tdx_level_carries_into_relaunch() {
    let qe_identity = qe_identity();
    // SGX and TDX level L0 ConfigurationNeeded: module OutOfDate makes the TDX status
    // OutOfDateConfigurationNeeded.
    let mut tcb_info = tcb_info();
    tcb_info.levels[0].status = ConfigurationNeeded;
    let body = td15([2, 1, 4], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.status, TdRelaunchAdvisedConfigurationNeeded);
    assert_eq!(
        evaluation.status.to_string(),
        "TDRelaunchAdvisedConfigurationNeeded"
    );
    assert!(evaluation.status.is_accepted());
    // Only the TDX level (L1, launched with component 2 at 2) needs configuration.
    let mut tcb_info = self::tcb_info();
    tcb_info.levels[1].status = OutOfDateConfigurationNeeded;
    let body = td15([2, 1, 2], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.platform.status, OutOfDateConfigurationNeeded);
    assert_eq!(evaluation.status, TdRelaunchAdvisedConfigurationNeeded);
    // Only the current TCB (level L0) needs configuration: launched on L1 (OutOfDate).
    let mut tcb_info = self::tcb_info();
    tcb_info.levels[0].status = ConfigurationAndSwHardeningNeeded;
    let body = td15([2, 1, 2], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.platform.status, OutOfDate);
    assert_eq!(evaluation.current.status, ConfigurationAndSwHardeningNeeded);
    assert_eq!(evaluation.status, TdRelaunchAdvisedConfigurationNeeded);
    // SWHardeningNeeded is no configuration.
    let mut tcb_info = self::tcb_info();
    tcb_info.levels[0].status = SwHardeningNeeded;
    let body = td15([2, 1, 4], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.status, TdRelaunchAdvised);
}

#[test]
fn tee_tcb_svn2_at_the_launch_level_is_not_relaunch_advised() {
    // No TD-preserving update happened: the status is the launch TCB's.
    assert_eq!(status_of(&td15([2, 1, 4], [2, 1, 4])), OutOfDate);
    // Updated, but not to the newest module level, or not to the newest component 2.
    assert_eq!(status_of(&td15([2, 1, 4], [5, 1, 4])), OutOfDate);
    assert_eq!(status_of(&td15([2, 1, 4], [6, 1, 3])), OutOfDate);
}

#[test]
fn td10_bodies_are_never_relaunch_advised() {
    // The same launch TCB in a TD 1.0 body (quote v4, or v5 body type 2).
    assert_eq!(status_of(&QuoteBody::Td10(td10([2, 1, 4]))), OutOfDate);
    // And a TD 1.5 body stays what it was when nothing is out of date.
    assert_eq!(status_of(&td15([6, 1, 4], [6, 1, 4])), UpToDate);
}

#[test]
fn an_up_to_date_module_on_a_platform_updated_in_place_is_relaunch_advised() {
    // Module TDX_01 minor 6 (UpToDate) throughout; TDX component 2 went from 2 (level L1,
    // OutOfDate) to 4 (L0) in a TD-preserving update. QVL 1.27 judges the two statuses alone.
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15([6, 1, 2], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.status, TdRelaunchAdvised);
    assert_eq!(evaluation.current.status, UpToDate);
    // The matched levels, advisories and date stay the launch TCB's (L1, 2024-01-01).
    assert_eq!(evaluation.platform.status, OutOfDate);
    assert_eq!(evaluation.module.map(|level| level.status), Some(UpToDate));
    assert_eq!(evaluation.tcb_date.as_deref(), Some("2024-01-01T00:00:00Z"));
    // A module of major version 0 at launch (no module level) is judged the same way:
    // launched on L1 (byte 0 at 6 is below L0's 7), now on L0.
    assert_eq!(status_of(&td15([6, 0, 4], [7, 0, 4])), TdRelaunchAdvised);
}

#[test]
fn out_of_date_current_tcb_blocks_relaunch() {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15([2, 1, 4], [6, 1, 4]);
    // QE SVN 0: its level is OutOfDate, in the current TCB too.
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 0).unwrap();
    assert_eq!(evaluation.current.status, OutOfDate);
    assert_eq!(evaluation.status, OutOfDate);
    // SGX components only reach L2 (OutOfDate), for both TCBs.
    let evaluation = run(&tcb_info, &qe_identity, [2; 16], &body, 8).unwrap();
    assert_eq!(evaluation.status, OutOfDate);
    // The current platform level L0 itself out of date.
    let mut tcb_info = self::tcb_info();
    tcb_info.levels[0].status = OutOfDate;
    let body = td15([2, 1, 2], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.current.status, OutOfDate);
    assert_eq!(evaluation.status, OutOfDate);
}

#[test]
fn tee_tcb_svn2_of_module_major_zero_is_judged_by_the_platform_levels() {
    // Bytes 0 and 2 against tdxtcbcomponents 0 and 2 of the levels: L0 (7 and 4) is UpToDate.
    assert_eq!(status_of(&td15([2, 1, 4], [7, 0, 4])), TdRelaunchAdvised);
    assert_eq!(status_of(&td15([2, 1, 4], [6, 0, 4])), OutOfDate);
    assert_eq!(status_of(&td15([2, 1, 4], [7, 0, 3])), OutOfDate);
}

#[test]
fn tee_tcb_svn2_naming_a_missing_module_identity_fails() {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15([2, 1, 4], [6, 2, 4]);
    assert_eq!(
        run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap_err(),
        DcapError::TdxModuleMismatch {
            id: "TDX_02".into(),
            reason: "tee_tcb_svn2 names no module identity of the tcb info"
        }
    );
    let mut tcb_info = self::tcb_info();
    let mut identity = tcb_info.tdx_module_identities[0].clone();
    identity.id = "TDX_02".into();
    identity.levels.clear();
    tcb_info.tdx_module_identities.push(identity);
    assert_eq!(
        run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap_err(),
        DcapError::TdxModuleMismatch {
            id: "TDX_02".into(),
            reason: "the module identity of tee_tcb_svn2 has no tcb levels"
        }
    );
    // Whether or not a relaunch is in question (module up to date at launch): QVL evaluates
    // the current TCB of every TD 1.5 body and fails when it cannot.
    let (tcb_info, qe_identity) = (self::tcb_info(), self::qe_identity());
    let body = td15([6, 1, 4], [6, 2, 4]);
    assert_eq!(
        run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap_err(),
        DcapError::TdxModuleMismatch {
            id: "TDX_02".into(),
            reason: "tee_tcb_svn2 names no module identity of the tcb info"
        }
    );
}

const ALL_STATUSES: [TcbStatus; 9] = [
    UpToDate,
    SwHardeningNeeded,
    ConfigurationNeeded,
    ConfigurationAndSwHardeningNeeded,
    OutOfDate,
    OutOfDateConfigurationNeeded,
    Revoked,
    TdRelaunchAdvised,
    TdRelaunchAdvisedConfigurationNeeded,
];

#[test]
fn relaunch_follows_qvls_launch_and_current_status_pairs() {
    // QVL 1.27's `checkForRelaunch(launchTcbStatus, currentTcbStatus)`: these pairs advise
    // relaunch, every other pair keeps the launch status.
    let advised = [
        (OutOfDate, UpToDate, TdRelaunchAdvised),
        (OutOfDate, SwHardeningNeeded, TdRelaunchAdvised),
        (
            OutOfDate,
            ConfigurationNeeded,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
        (
            OutOfDate,
            ConfigurationAndSwHardeningNeeded,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
        (
            OutOfDateConfigurationNeeded,
            UpToDate,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
        (
            OutOfDateConfigurationNeeded,
            SwHardeningNeeded,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
        (
            OutOfDateConfigurationNeeded,
            ConfigurationNeeded,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
        (
            OutOfDateConfigurationNeeded,
            ConfigurationAndSwHardeningNeeded,
            TdRelaunchAdvisedConfigurationNeeded,
        ),
    ];
    for launch in ALL_STATUSES {
        for current in ALL_STATUSES {
            let expected = advised
                .iter()
                .find(|(l, c, _)| (*l, *c) == (launch, current))
                .map_or(launch, |(_, _, status)| *status);
            assert_eq!(
                relaunch(launch, current),
                expected,
                "launch {launch}, current {current}"
            );
        }
    }
}

fn current_of(tee_tcb_svn: [u8; 3], tee_tcb_svn2: [u8; 3]) -> CurrentTcb {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15(tee_tcb_svn, tee_tcb_svn2);
    run(&tcb_info, &qe_identity, PCK_CPU, &body, 8)
        .unwrap()
        .current
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[test]
fn td15_current_tcb_is_evaluated_with_tee_tcb_svn2() {
    // Distinct dates: module level 6 2025-03-01, module level 2 2024-02-01, QE 2025-06-01.
    let mut tcb_info = tcb_info();
    tcb_info.tdx_module_identities[0].levels[0].tcb_date = "2025-03-01T00:00:00Z".into();
    tcb_info.tdx_module_identities[0].levels[1].tcb_date = "2024-02-01T00:00:00Z".into();
    let mut qe_identity = qe_identity();
    for level in &mut qe_identity.levels {
        level.tcb_date = "2025-06-01T00:00:00Z".into();
    }
    // Launched on module minor 2 (OutOfDate), now minor 6 after a TD-preserving update.
    let body = td15([2, 1, 4], [6, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    // The launch values: relaunch advised, the old module level's advisory and date.
    assert_eq!(evaluation.status, TdRelaunchAdvised);
    assert_eq!(
        evaluation.advisory_ids,
        ids(&["INTEL-SA-MODULE-OLD", "INTEL-SA-QE"])
    );
    assert_eq!(evaluation.tcb_date.as_deref(), Some("2024-02-01T00:00:00Z"));
    // The current values: L0 and module level 6, all up to date; the earliest of L0
    // (2025-01-01), module (2025-03-01) and QE (2025-06-01).
    assert_eq!(
        evaluation.current,
        CurrentTcb {
            status: UpToDate,
            advisory_ids: ids(&["INTEL-SA-MODULE-NEW", "INTEL-SA-QE"]),
            tcb_date: Some("2025-01-01T00:00:00Z".into()),
        }
    );
}

#[test]
fn td15_current_tcb_matches_the_platform_level_by_tee_tcb_svn2() {
    // Launched with TDX component 2 at 2 (level L1, OutOfDate), now at 4 (L0).
    let current = current_of([6, 1, 2], [6, 1, 4]);
    assert_eq!(current.status, UpToDate);
    assert_eq!(current.tcb_date.as_deref(), Some("2024-06-01T00:00:00Z"));
    // The reverse: the current TCB is judged on its own, never as a relaunch, and an
    // up-to-date launch TCB stays so.
    assert_eq!(current_of([6, 1, 4], [6, 1, 2]).status, OutOfDate);
    assert_eq!(status_of(&td15([6, 1, 4], [6, 1, 2])), UpToDate);
    assert_eq!(current_of([2, 1, 4], [2, 1, 4]).status, OutOfDate);
    // A module of major version 0 now: no module level, bytes 0 and 2 against the levels.
    let current = current_of([2, 1, 4], [7, 0, 4]);
    assert_eq!(current.status, UpToDate);
    assert_eq!(current.advisory_ids, ids(&["INTEL-SA-QE"]));
    assert_eq!(current_of([2, 1, 4], [6, 0, 4]).status, OutOfDate);
}

#[test]
fn td15_current_tcb_converges_with_the_qe_and_the_module() {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    let body = td15([2, 1, 4], [6, 1, 4]);
    // QE SVN 0: its level is OutOfDate, for the current TCB too.
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 0).unwrap();
    assert_eq!(evaluation.status, OutOfDate);
    assert_eq!(evaluation.current.status, OutOfDate);
    // Platform L0 ConfigurationNeeded with an out-of-date current module.
    let mut tcb_info = self::tcb_info();
    tcb_info.levels[0].status = ConfigurationNeeded;
    let body = td15([2, 1, 4], [5, 1, 4]);
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(evaluation.current.status, OutOfDateConfigurationNeeded);
    assert_eq!(
        evaluation.current.advisory_ids,
        ids(&["INTEL-SA-MODULE-OLD", "INTEL-SA-QE"])
    );
}

#[test]
fn td15_current_tcb_that_cannot_be_evaluated_fails_the_quote() {
    let qe_identity = qe_identity();
    // Without L2, tee_tcb_svn2 component 2 at 1 reaches no level.
    let mut tcb_info = tcb_info();
    tcb_info.levels.truncate(2);
    let body = td15([6, 1, 2], [6, 1, 1]);
    assert_eq!(
        run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap_err(),
        DcapError::CurrentTcbLevelNotFound
    );
    // The module minor SVN of tee_tcb_svn2 below every module level.
    let tcb_info = self::tcb_info();
    let body = td15([6, 1, 4], [1, 1, 4]);
    assert_eq!(
        run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap_err(),
        DcapError::TdxModuleMismatch {
            id: "TDX_01".into(),
            reason: "tee_tcb_svn2 module svn below every module tcb level"
        }
    );
}

#[test]
fn td10_current_tcb_is_the_launch_tcb() {
    let (tcb_info, qe_identity) = (tcb_info(), qe_identity());
    // The same SVNs as a relaunch-advised TD 1.5 body, in a TD 1.0 body: nothing to compare.
    let body = QuoteBody::Td10(td10([2, 1, 4]));
    let evaluation = run(&tcb_info, &qe_identity, PCK_CPU, &body, 8).unwrap();
    assert_eq!(
        evaluation.current,
        CurrentTcb {
            status: evaluation.status,
            advisory_ids: evaluation.advisory_ids.clone(),
            tcb_date: evaluation.tcb_date.clone(),
        }
    );
    assert_eq!(evaluation.current.status, OutOfDate);
    assert_eq!(
        evaluation.current.advisory_ids,
        ids(&["INTEL-SA-MODULE-OLD", "INTEL-SA-QE"])
    );
}
