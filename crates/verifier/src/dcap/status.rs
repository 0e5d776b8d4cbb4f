//! The TCB status of one quote from the parsed TCB Info and QE Identity (verifiers spec §3.1,
//! QVL's TCB level check). Pure: no signatures, no clock; [`super::verify_with_collateral`]
//! calls it once everything it relies on is verified.
//!
//! Order, as QVL: the platform (TDX) TCB level, converged with the TDX module identity level;
//! for a TD 1.5 body the relaunch check below; then convergence with the QE level.
//!
//! TD relaunch (QVL `checkForRelaunch`, `Src/AttestationLibrary/src/Verifiers/Checks/
//! TDRelaunchCheck.cpp` and its call in `TcbLevelCheck.cpp` of
//! <https://github.com/intel/SGX-TDX-DCAP-QuoteVerificationLibrary>). In a TD 1.5 report
//! `tee_tcb_svn` is the TCB the TD was launched under and `tee_tcb_svn2` the TDX module's
//! current one (after a TD-preserving update). Only for a TD 1.5 body (quote v5, body type 3),
//! the status becomes `TDRelaunchAdvised` when all of:
//! - the QE level is not out of date (nor revoked);
//! - the SGX level (the first level matching the PCK certificate's 16 SGX components and
//!   PCESVN, TDX components ignored) is `UpToDate`, `SWHardeningNeeded`, `ConfigurationNeeded`
//!   or `ConfigurationAndSWHardeningNeeded`;
//! - the TDX level's status converged with the module's is `OutOfDate` or
//!   `OutOfDateConfigurationNeeded`, and the module level itself (identity `TDX_<major>` by
//!   `tee_tcb_svn[0..2]`) is `OutOfDate` (so never for a module of major version 0);
//! - `tee_tcb_svn2` reaches the newest TCB: with `tee_tcb_svn2[1]` (module major) = 0, its
//!   bytes 0 and 2 are at or above `tdxtcbcomponents` 0 and 2 of the newest platform level;
//!   otherwise byte 0 is at or above the ISVSVN of the newest level of identity
//!   `TDX_<tee_tcb_svn2[1]>` (which must exist: else the quote fails as a module mismatch) and
//!   byte 2 at or above `tdxtcbcomponents[2]` of the newest platform level.
//!
//! It is `TDRelaunchAdvisedConfigurationNeeded` instead when the SGX level's status or the
//! converged TDX status needs configuration. The newest level is QVL's first: the highest by
//! SGX components, then PCESVN, then TDX components (Intel lists it first).

use std::cmp::Ordering;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::DcapError;
use super::quote::{EnclaveReport, QuoteBody, TdReport10};
use super::tcb::{
    QeIdentity, SvnLevel, TcbInfo, TcbLevel, TcbStatus, TdxModule, converge, match_svn_level,
};

/// What the TCB evaluation found for one quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcbEvaluation<'a> {
    /// The converged status (platform, TDX module, TD relaunch, QE).
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
    let mut status = platform.status;
    let mut advisory_ids = platform.advisory_ids.clone();
    let mut dates = vec![platform.tcb_date.as_str()];

    let module = match td {
        Some(td) => check_tdx_module(tcb_info, td)?,
        None => None,
    };
    if let Some(level) = module {
        reject(level.status, "tdx module")?;
        status = converge(status, level.status);
        merge(&mut advisory_ids, &level.advisory_ids);
        dates.push(&level.tcb_date);
    }

    let qe = check_qe_identity(qe_identity, qe_report)?;
    reject(qe.status, "qe")?;
    if let QuoteBody::Td15(report) = body {
        let sgx = tcb_info
            .match_platform_level(cpu_components, pce_svn, None)
            .map_or(platform.status, |level| level.status);
        let launched = RelaunchInputs {
            sgx,
            tdx: status,
            module: module.map(|level| level.status),
            qe: qe.status,
        };
        if let Some(relaunch) = relaunch_status(tcb_info, &report.tee_tcb_svn2, launched)? {
            status = relaunch;
        }
    }
    status = converge(status, qe.status);
    merge(&mut advisory_ids, &qe.advisory_ids);
    dates.push(&qe.tcb_date);
    reject(status, "platform")?;

    // RFC 3339 UTC dates of one format compare as text; pick by parsed time anyway.
    let tcb_date = dates
        .into_iter()
        .min_by_key(|date| {
            OffsetDateTime::parse(date, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .unwrap_or(i64::MAX)
        })
        .map(str::to_owned);
    Ok(TcbEvaluation {
        status,
        platform,
        module,
        qe,
        advisory_ids,
        tcb_date,
    })
}

/// The statuses the relaunch check looks at (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RelaunchInputs {
    /// The SGX level's status (SGX components and PCESVN only).
    pub(crate) sgx: TcbStatus,
    /// The TDX level's status converged with the TDX module's.
    pub(crate) tdx: TcbStatus,
    /// The TDX module identity level's status (`None` for module major version 0).
    pub(crate) module: Option<TcbStatus>,
    /// The QE level's status.
    pub(crate) qe: TcbStatus,
}

/// QVL's TD relaunch check for a TD 1.5 report with `tee_tcb_svn2`: the relaunch status, or
/// `None` when relaunching is not advised (the status stays as it was).
pub(crate) fn relaunch_status(
    tcb_info: &TcbInfo,
    tee_tcb_svn2: &[u8; 16],
    launched: RelaunchInputs,
) -> Result<Option<TcbStatus>, DcapError> {
    use TcbStatus::*;
    let qe_current = !matches!(
        launched.qe,
        OutOfDate | OutOfDateConfigurationNeeded | Revoked
    );
    let sgx_current = matches!(
        launched.sgx,
        UpToDate | SwHardeningNeeded | ConfigurationNeeded | ConfigurationAndSwHardeningNeeded
    );
    let tdx_out_of_date = matches!(launched.tdx, OutOfDate | OutOfDateConfigurationNeeded);
    // QVL accepts only UpToDate, OutOfDate and Revoked in a module identity level.
    let module_out_of_date = matches!(
        launched.module,
        Some(OutOfDate | OutOfDateConfigurationNeeded)
    );
    if !(qe_current && sgx_current && tdx_out_of_date && module_out_of_date) {
        return Ok(None);
    }
    let Some(newest) = tcb_info.newest_level() else {
        return Err(DcapError::TcbLevelNotFound);
    };
    let Some(newest_tdx) = newest.tdx_components else {
        return Ok(None);
    };
    let [minor, major, third, ..] = *tee_tcb_svn2;
    let module_current = if major == 0 {
        minor >= newest_tdx[0]
    } else {
        let id = format!("TDX_{major:02X}");
        let identity = tcb_info
            .tdx_module_identities
            .iter()
            .find(|identity| identity.id.eq_ignore_ascii_case(&id));
        let Some(identity) = identity else {
            return Err(DcapError::TdxModuleMismatch {
                id,
                reason: "tee_tcb_svn2 names no module identity of the tcb info",
            });
        };
        let Some(newest_module) = identity.levels.first() else {
            return Err(DcapError::TdxModuleMismatch {
                id,
                reason: "the module identity of tee_tcb_svn2 has no tcb levels",
            });
        };
        u16::from(minor) >= newest_module.isv_svn
    };
    if !(module_current && third >= newest_tdx[2]) {
        return Ok(None);
    }
    let configuration = |status| {
        matches!(
            status,
            ConfigurationNeeded
                | OutOfDateConfigurationNeeded
                | ConfigurationAndSwHardeningNeeded
                | TdRelaunchAdvisedConfigurationNeeded
        )
    };
    Ok(Some(
        if configuration(launched.sgx) || configuration(launched.tdx) {
            TdRelaunchAdvisedConfigurationNeeded
        } else {
            TdRelaunchAdvised
        },
    ))
}

impl TcbInfo {
    /// The newest platform level as QVL orders levels: the highest by SGX components
    /// (lexicographically), then PCESVN, then (TDX) TDX components; the first of equals.
    pub(crate) fn newest_level(&self) -> Option<&TcbLevel> {
        self.levels.iter().fold(None, |newest, level| match newest {
            Some(newest) if qvl_order(level, newest) != Ordering::Greater => Some(newest),
            _ => Some(level),
        })
    }
}

fn qvl_order(a: &TcbLevel, b: &TcbLevel) -> Ordering {
    a.sgx_components
        .cmp(&b.sgx_components)
        .then(a.pce_svn.cmp(&b.pce_svn))
        .then(a.tdx_components.cmp(&b.tdx_components))
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
    let identity = tcb_info
        .tdx_module_identities
        .iter()
        .find(|identity| identity.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| mismatch("no such module identity in the tcb info"))?;
    check_module_signer(&identity.module, td).map_err(mismatch)?;
    let level = match_svn_level(&identity.levels, u16::from(td.tee_tcb_svn[0]))
        .ok_or_else(|| mismatch("module svn below every module tcb level"))?;
    Ok(Some(level))
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
