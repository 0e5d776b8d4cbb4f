//! The TCB status of one quote from the parsed TCB Info and QE Identity (verifiers spec §3.1,
//! QVL's TCB level check). Pure: no signatures, no clock; [`super::verify_with_collateral`]
//! calls it once everything it relies on is verified.
//!
//! Order, as QVL (DCAP 1.27, `checkTcbLevel` in `TcbLevelCheck.cpp` and `tdxEvaluateTCB` in
//! `EvaluateTcb.cpp` of <https://github.com/intel/confidential-computing.tee.dcap.qvl>): the
//! launch TCB (platform level, TDX module identity level, QE level, converged); for a TD 1.5
//! body the current TCB; then the TD relaunch check on the two statuses.
//!
//! The current TCB (QVL supplemental data 3.5, DCAP 1.27: `tcb_status_current`,
//! `tcb_date_current`, `sa_list_current`). In a TD 1.5 report `tee_tcb_svn` is the TCB the TD
//! was launched under and `tee_tcb_svn2` the TDX module's current one (after a TD-preserving
//! update). For a TD 1.5 body (quote v5, body type 3) the current TCB is the same evaluation
//! as the launch TCB's (platform level, TDX module identity level, QE level; converged status,
//! earliest date, their advisories) with `tee_tcb_svn2` in place of `tee_tcb_svn`; a
//! `tee_tcb_svn2` that matches no TCB level or module identity fails the quote, as in QVL.
//! For SGX and TD 1.0 bodies it is the launch evaluation's result.
//!
//! TD relaunch (QVL's `checkForRelaunch(launchTcbStatus, currentTcbStatus)` in
//! `TDRelaunchCheck.cpp` of the same repository): only for a TD 1.5 body, from the two
//! converged statuses alone. When the launch status is `OutOfDate` or
//! `OutOfDateConfigurationNeeded` and the current status is `UpToDate`, `SWHardeningNeeded`,
//! `ConfigurationNeeded` or `ConfigurationAndSWHardeningNeeded`, the status becomes
//! `TDRelaunchAdvisedConfigurationNeeded` if either status needs configuration, else
//! `TDRelaunchAdvised`; otherwise it stays the launch status. The QE takes part only through
//! both converged statuses (an out-of-date QE keeps the current status out of date). Matched
//! levels, advisory ids and date stay those of the launch TCB.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::DcapError;
use super::quote::{EnclaveReport, QuoteBody, TdReport10, TdReport15};
use super::tcb::{
    QeIdentity, SvnLevel, TcbInfo, TcbLevel, TcbStatus, TdxModule, TdxModuleIdentity, converge,
    match_svn_level,
};

/// What the TCB evaluation found for one quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcbEvaluation<'a> {
    /// The launch TCB's converged status (platform, TDX module, QE), for a TD 1.5 body after
    /// the relaunch check.
    pub(crate) status: TcbStatus,
    /// The matched platform (for TDX: TDX) level.
    pub(crate) platform: &'a TcbLevel,
    /// The TDX module identity level (module major version > 0).
    pub(crate) module: Option<&'a SvnLevel>,
    /// The QE Identity level.
    pub(crate) qe: &'a SvnLevel,
    /// Advisory ids of the matched levels (platform first, then module and QE, no repeats).
    pub(crate) advisory_ids: Vec<String>,
    /// The earliest `tcbDate` of the matched levels.
    pub(crate) tcb_date: Option<String>,
    /// The TCB the TD runs now (differs from the launch TCB above only for a TD 1.5 body after
    /// a TD-preserving update).
    pub(crate) current: CurrentTcb,
}

/// The evaluation of the TCB a TD runs now (see the module docs), QVL's "current" values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTcb {
    /// The converged status (platform, TDX module, QE; never a relaunch status for TD 1.5).
    pub status: TcbStatus,
    /// Advisory ids of the matched levels (platform first, then module and QE, no repeats).
    pub advisory_ids: Vec<String>,
    /// The earliest `tcbDate` of the matched levels, RFC 3339.
    pub tcb_date: Option<String>,
}

/// The TCB status of a quote with `body`, QE report `qe_report` and the PCK certificate's
/// `cpu_components` / `pce_svn`, against (already verified) TCB Info and QE Identity.
pub(crate) fn evaluate<'a>(
    tcb_info: &'a TcbInfo,
    qe_identity: &'a QeIdentity,
    cpu_components: &[u8; 16],
    pce_svn: u16,
    body: &QuoteBody,
    qe_report: &EnclaveReport,
) -> Result<TcbEvaluation<'a>, DcapError> {
    let td = body.td_report();
    let platform = tcb_info
        .match_platform_level(cpu_components, pce_svn, td.map(|td| &td.tee_tcb_svn))
        .ok_or(DcapError::TcbLevelNotFound)?;
    reject(platform.status, "platform")?;

    let module = match td {
        Some(td) => check_tdx_module(tcb_info, td)?,
        None => None,
    };
    if let Some(level) = module {
        reject(level.status, "tdx module")?;
    }

    let qe = check_qe_identity(qe_identity, qe_report)?;
    reject(qe.status, "qe")?;
    let launch = Levels {
        platform,
        module,
        qe,
    }
    .tcb();
    let (status, current) = match body {
        QuoteBody::Td15(report) => {
            // QVL fails the quote when the current TCB cannot be evaluated.
            let current = current_levels(tcb_info, cpu_components, pce_svn, report, qe)?.tcb();
            (relaunch(launch.status, current.status), current)
        }
        // SGX and TD 1.0: the current TCB is the launch TCB (QVL copies its values).
        QuoteBody::Sgx(_) | QuoteBody::Td10(_) => (launch.status, launch.clone()),
    };
    reject(status, "platform")?;

    Ok(TcbEvaluation {
        status,
        platform,
        module,
        qe,
        advisory_ids: launch.advisory_ids,
        tcb_date: launch.tcb_date,
        current,
    })
}

/// QVL's TD relaunch check of a TD 1.5 body (see the module docs): the relaunch status, or
/// the `launch` status unchanged.
pub(crate) fn relaunch(launch: TcbStatus, current: TcbStatus) -> TcbStatus {
    use TcbStatus::*;
    let launched_out_of_date = matches!(launch, OutOfDate | OutOfDateConfigurationNeeded);
    let current_up_to_date = matches!(
        current,
        UpToDate | SwHardeningNeeded | ConfigurationNeeded | ConfigurationAndSwHardeningNeeded
    );
    if !(launched_out_of_date && current_up_to_date) {
        return launch;
    }
    let configuration = |status| {
        matches!(
            status,
            ConfigurationNeeded | OutOfDateConfigurationNeeded | ConfigurationAndSwHardeningNeeded
        )
    };
    if configuration(launch) || configuration(current) {
        TdRelaunchAdvisedConfigurationNeeded
    } else {
        TdRelaunchAdvised
    }
}

/// The levels one TEE TCB (the launch or the current one) matched.
struct Levels<'a> {
    platform: &'a TcbLevel,
    module: Option<&'a SvnLevel>,
    qe: &'a SvnLevel,
}

impl Levels<'_> {
    /// Platform first, then module and QE, no repeats.
    fn advisory_ids(&self) -> Vec<String> {
        let mut ids = self.platform.advisory_ids.clone();
        if let Some(level) = self.module {
            merge(&mut ids, &level.advisory_ids);
        }
        merge(&mut ids, &self.qe.advisory_ids);
        ids
    }

    /// The earliest `tcbDate` of the levels.
    fn tcb_date(&self) -> Option<String> {
        let dates = [
            Some(self.platform.tcb_date.as_str()),
            self.module.map(|level| level.tcb_date.as_str()),
            Some(self.qe.tcb_date.as_str()),
        ];
        // RFC 3339 UTC dates of one format compare as text; pick by parsed time anyway.
        dates
            .into_iter()
            .flatten()
            .min_by_key(|date| {
                OffsetDateTime::parse(date, &Rfc3339)
                    .map(OffsetDateTime::unix_timestamp)
                    .unwrap_or(i64::MAX)
            })
            .map(str::to_owned)
    }

    /// The levels' result, as QVL's `tdxEvaluateTCB`: the platform status converged with the
    /// module's and the QE's (no relaunch check), their advisories and earliest date.
    fn tcb(&self) -> CurrentTcb {
        let tdx = self.module.map_or(self.platform.status, |level| {
            converge(self.platform.status, level.status)
        });
        CurrentTcb {
            status: converge(tdx, self.qe.status),
            advisory_ids: self.advisory_ids(),
            tcb_date: self.tcb_date(),
        }
    }
}

/// The levels of a TD 1.5 report's current TCB (`tee_tcb_svn2`): platform level by the PCK
/// certificate's SGX components, PCESVN and `tee_tcb_svn2`, module identity level of
/// `TDX_<tee_tcb_svn2[1]>` by `tee_tcb_svn2[0]`, the QE's level as matched already.
fn current_levels<'a>(
    tcb_info: &'a TcbInfo,
    cpu_components: &[u8; 16],
    pce_svn: u16,
    report: &TdReport15,
    qe: &'a SvnLevel,
) -> Result<Levels<'a>, DcapError> {
    let svn2 = &report.tee_tcb_svn2;
    let platform = tcb_info
        .match_platform_level(cpu_components, pce_svn, Some(svn2))
        .ok_or(DcapError::CurrentTcbLevelNotFound)?;
    let [minor, major, ..] = *svn2;
    let module = if major == 0 {
        None
    } else {
        let id = format!("TDX_{major:02X}");
        let mismatch = |reason| DcapError::TdxModuleMismatch {
            id: id.clone(),
            reason,
        };
        let identity = module_identity(tcb_info, &id)
            .ok_or_else(|| mismatch("tee_tcb_svn2 names no module identity of the tcb info"))?;
        if identity.levels.is_empty() {
            return Err(mismatch(
                "the module identity of tee_tcb_svn2 has no tcb levels",
            ));
        }
        let level = match_svn_level(&identity.levels, u16::from(minor))
            .ok_or_else(|| mismatch("tee_tcb_svn2 module svn below every module tcb level"))?;
        Some(level)
    };
    Ok(Levels {
        platform,
        module,
        qe,
    })
}

/// The TDX module: for major version 0 the `tdxModule` signer/attributes; otherwise the
/// identity `TDX_<major>` (signer, attributes, level by the module's minor SVN).
fn check_tdx_module<'a>(
    tcb_info: &'a TcbInfo,
    td: &TdReport10,
) -> Result<Option<&'a SvnLevel>, DcapError> {
    let major = td.tee_tcb_svn[1];
    let id = format!("TDX_{major:02X}");
    let mismatch = |reason| DcapError::TdxModuleMismatch {
        id: id.clone(),
        reason,
    };
    if major == 0 {
        if let Some(module) = &tcb_info.tdx_module {
            check_module_signer(module, td).map_err(mismatch)?;
        }
        return Ok(None);
    }
    let identity = module_identity(tcb_info, &id)
        .ok_or_else(|| mismatch("no such module identity in the tcb info"))?;
    check_module_signer(&identity.module, td).map_err(mismatch)?;
    let level = match_svn_level(&identity.levels, u16::from(td.tee_tcb_svn[0]))
        .ok_or_else(|| mismatch("module svn below every module tcb level"))?;
    Ok(Some(level))
}

/// The TCB Info's module identity `id` (`TDX_<major>`, case-insensitive as QVL).
fn module_identity<'a>(tcb_info: &'a TcbInfo, id: &str) -> Option<&'a TdxModuleIdentity> {
    tcb_info
        .tdx_module_identities
        .iter()
        .find(|identity| identity.id.eq_ignore_ascii_case(id))
}

fn check_module_signer(module: &TdxModule, td: &TdReport10) -> Result<(), &'static str> {
    if module.mrsigner != td.mrsigner_seam {
        return Err("mrsigner_seam");
    }
    let masked = |bytes: &[u8; 8]| -> [u8; 8] {
        let mut out = [0; 8];
        for ((o, b), m) in out.iter_mut().zip(bytes).zip(&module.attributes_mask) {
            *o = b & m;
        }
        out
    };
    if masked(&td.seam_attributes) != masked(&module.attributes) {
        return Err("seam_attributes");
    }
    Ok(())
}

/// The QE report against the QE Identity: identity fields, then the level by ISVSVN.
fn check_qe_identity<'a>(
    identity: &'a QeIdentity,
    qe: &EnclaveReport,
) -> Result<&'a SvnLevel, DcapError> {
    let mismatch = |field| DcapError::QeIdentityMismatch { field };
    if qe.mr_signer != identity.mrsigner {
        return Err(mismatch("mrsigner"));
    }
    if qe.isv_prod_id != identity.isv_prod_id {
        return Err(mismatch("isvprodid"));
    }
    if qe.misc_select & identity.miscselect_mask != identity.miscselect & identity.miscselect_mask {
        return Err(mismatch("miscselect"));
    }
    let attributes_match = qe
        .attributes
        .iter()
        .zip(&identity.attributes)
        .zip(&identity.attributes_mask)
        .all(|((have, want), mask)| have & mask == want & mask);
    if !attributes_match {
        return Err(mismatch("attributes"));
    }
    match_svn_level(&identity.levels, qe.isv_svn).ok_or(DcapError::QeTcbLevelNotFound {
        isv_svn: qe.isv_svn,
    })
}

fn reject(status: TcbStatus, component: &'static str) -> Result<(), DcapError> {
    if status.is_accepted() {
        Ok(())
    } else {
        Err(DcapError::TcbStatusRejected {
            component,
            status: status.to_string(),
        })
    }
}

fn merge(into: &mut Vec<String>, more: &[String]) {
    for id in more {
        if !into.contains(id) {
            into.push(id.clone());
        }
    }
}
