//! What the three DCAP verifiers (`tdx`, `sgx`, `az-tdx-vtpm`) share: their state, collateral
//! lookup and quote verification, and the DCAP claims (verifiers spec §3.2). The report-data
//! and init-data rules are [`crate::binding`]'s; the collateral source comes from
//! [`crate::VerifierContext::dcap_collateral`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest::{self, SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::collateral::intel::{DcapCollateral, DcapCollateralSource};
use crate::dcap::{self, Quote, SgxType, VerifiedCollateral, VerifiedQuote};
use crate::{Clock, Error};

/// The quote of a DCAP evidence's `quote` field (standard base64); an empty one is malformed
/// `tee` evidence.
pub(crate) fn decode_quote(text: &str, tee: Tee) -> Result<Quote, Error> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| Error::Base64 { field: "quote" })?;
    if bytes.is_empty() {
        return Err(Error::MalformedEvidence {
            tee,
            reason: "`quote` is empty".to_owned(),
        });
    }
    Ok(Quote::parse(&bytes)?)
}

/// How one verification checks its quote: collateral from `collateral`, validity at `now`
/// (Unix seconds), and the collateral's own checks from `cache` when there is one.
#[derive(Clone, Copy)]
pub(crate) struct QuoteCheck<'a> {
    collateral: &'a dyn DcapCollateralSource,
    cache: Option<&'a VerifiedCollateralCache>,
    now: u64,
}

impl<'a> QuoteCheck<'a> {
    /// Checks every collateral afresh (the public `verify` functions).
    pub(crate) fn uncached(collateral: &'a dyn DcapCollateralSource, now: u64) -> Self {
        Self {
            collateral,
            cache: None,
            now,
        }
    }

    /// Keeps the collateral checks in `cache`.
    pub(crate) fn cached(
        collateral: &'a dyn DcapCollateralSource,
        cache: &'a VerifiedCollateralCache,
        now: u64,
    ) -> Self {
        Self {
            collateral,
            cache: Some(cache),
            now,
        }
    }

    /// Looks up the collateral for `quote` (its FMSPC, TEE and PCK CA, read from the PCK leaf
    /// in the quote) and verifies the quote with it. The collateral's own checks (signatures,
    /// chains, CRL issuers) come from the cache when the same collateral was checked before;
    /// validity windows are checked at `now` on every call.
    pub(crate) async fn verify(self, quote: Quote) -> Result<VerifiedQuote, Error> {
        let request = dcap::collateral_request(&quote)?;
        let collateral = self.collateral.collateral(&request).await?;
        let checked = match self.cache {
            Some(cache) => cache.verified(&collateral)?,
            None => Arc::new(VerifiedCollateral::verify(&collateral)?),
        };
        // A time past year 9999 cannot be represented; the epoch instead makes every
        // certificate and collateral "not yet valid", which fails closed.
        let now = i64::try_from(self.now)
            .ok()
            .and_then(|now| OffsetDateTime::from_unix_timestamp(now).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(dcap::verify_with_collateral(quote, &checked, now)?)
    }
}

/// What each DCAP [`crate::Verifier`] (`tdx`, `sgx`, `az-tdx-vtpm`) holds: its collateral
/// source, its clock, and the collateral it has checked (shared by its clones).
#[derive(Clone)]
pub(crate) struct DcapVerifierState {
    collateral: Arc<dyn DcapCollateralSource>,
    clock: Arc<dyn Clock>,
    cache: Arc<VerifiedCollateralCache>,
}

impl DcapVerifierState {
    /// Collateral from `collateral`, verification time from `clock`, an empty cache.
    pub(crate) fn new(collateral: Arc<dyn DcapCollateralSource>, clock: Arc<dyn Clock>) -> Self {
        Self {
            collateral,
            clock,
            cache: Arc::default(),
        }
    }

    /// The clock (the verifiers' `Debug` output shows it).
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// This verification's quote check: the clock's current time and the shared cache.
    pub(crate) fn check(&self) -> QuoteCheck<'_> {
        QuoteCheck::cached(self.collateral.as_ref(), &self.cache, self.clock.now())
    }
}

/// Defines the public [`crate::Verifier`] type `$name` of a DCAP TEE: it holds a
/// [`DcapVerifierState`], parses the evidence JSON with `$parse` and checks it with the
/// invoking module's `verify_with(evidence, report_data, init_data_hash, QuoteCheck)`,
/// returning one `cpu` entry. The three DCAP verifiers differ only in those two functions.
macro_rules! dcap_verifier {
    ($(#[$attr:meta])* $name:ident, $parse:path) => {
        $(#[$attr])*
        #[derive(Clone)]
        pub struct $name {
            dcap: $crate::tdx::common::DcapVerifierState,
        }

        impl $name {
            /// A verifier that fetches collateral from `collateral` and verifies at `clock`'s
            /// time.
            pub fn new(
                collateral: ::std::sync::Arc<dyn $crate::collateral::intel::DcapCollateralSource>,
                clock: ::std::sync::Arc<dyn $crate::Clock>,
            ) -> Self {
                Self {
                    dcap: $crate::tdx::common::DcapVerifierState::new(collateral, clock),
                }
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("clock", self.dcap.clock())
                    .finish()
            }
        }

        #[::async_trait::async_trait]
        impl $crate::Verifier for $name {
            async fn evaluate(
                &self,
                evidence: &::serde_json::Value,
                expected_report_data: &$crate::ReportData,
                expected_init_data_hash: &$crate::InitDataHash,
            ) -> Result<Vec<($crate::TeeEvidenceClaims, $crate::TeeClass)>, $crate::Error> {
                let evidence = $parse(evidence)?;
                let check = self.dcap.check();
                let claims = verify_with(
                    evidence,
                    expected_report_data,
                    expected_init_data_hash,
                    check,
                )
                .await?;
                Ok(vec![(
                    $crate::TeeEvidenceClaims::new(claims),
                    $crate::TeeClass::Cpu,
                )])
            }
        }
    };
}
pub(crate) use dcap_verifier;

/// Most distinct collateral sets kept checked (one per FMSPC, TEE and CA in use, times the
/// few TCB info updates a year).
const MAX_CACHED_COLLATERAL: usize = 64;

/// Collateral whose quote-independent checks passed, by SHA-256 of its content.
///
/// Only what does not depend on time is cached ([`dcap::VerifiedCollateral`]); a different
/// byte anywhere in the collateral is a different key, so a changed TCB info or CRL is
/// checked again. Bounded: when full, it is emptied (collateral changes rarely).
#[derive(Debug, Default)]
pub(crate) struct VerifiedCollateralCache {
    entries: Mutex<HashMap<[u8; 32], Arc<VerifiedCollateral>>>,
}

impl VerifiedCollateralCache {
    /// The checked form of `collateral`, from the cache or checked now.
    pub(crate) fn verified(
        &self,
        collateral: &DcapCollateral,
    ) -> Result<Arc<VerifiedCollateral>, Error> {
        let key = fingerprint(collateral);
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let checked = Arc::new(VerifiedCollateral::verify(collateral)?);
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED_COLLATERAL {
            entries.clear();
        }
        entries.insert(key, checked.clone());
        Ok(checked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<VerifiedCollateral>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// SHA-256 over every field of the collateral, each length-prefixed so that moving bytes
/// between fields changes the key.
fn fingerprint(collateral: &DcapCollateral) -> [u8; 32] {
    let mut context = digest::Context::new(&SHA256);
    let mut field = |bytes: &[u8]| {
        context.update(&(bytes.len() as u64).to_le_bytes());
        context.update(bytes);
    };
    field(collateral.tcb_info.as_bytes());
    field(&collateral.tcb_info_signature);
    for cert in &collateral.tcb_info_issuer_chain {
        field(cert);
    }
    field(collateral.qe_identity.as_bytes());
    field(&collateral.qe_identity_signature);
    for cert in &collateral.qe_identity_issuer_chain {
        field(cert);
    }
    field(&collateral.pck_crl);
    for cert in &collateral.pck_crl_issuer_chain {
        field(cert);
    }
    field(&collateral.root_ca_crl);
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// The DCAP results as upstream's "custom" claims (QVL supplemental data, verifiers spec
/// §3.2): `tcb_status`, `advisory_ids`, `collateral_expiration_status` ("0"/"1"), `tcb_date`,
/// the current TCB's `tcb_status_current`, `advisory_ids_current`, `tcb_date_current` (as
/// upstream with a QVL of supplemental minor version 5, DCAP 1.27),
/// `earliest_issue_date`, `latest_issue_date`, `earliest_expiration_date` (RFC 3339),
/// `pck_crl_num`, `root_ca_crl_num`, `tcb_eval_num` (numbers), `platform_provider_id` (hex
/// PPID), `sgx_type`, the platform flags of scalable platforms, `root_key_id`, and
/// `platform_instance_id` for PCK certificates of the Platform CA.
pub(crate) fn insert_dcap_claims(verified: &VerifiedQuote, claims: &mut Map<String, Value>) {
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    let ids = |ids: &[String]| Value::Array(ids.iter().cloned().map(Value::String).collect());
    put("tcb_status", verified.tcb_status.to_string().into());
    put("advisory_ids", ids(&verified.advisory_ids));
    let current = &verified.current;
    put("tcb_status_current", current.status.to_string().into());
    put("advisory_ids_current", ids(&current.advisory_ids));
    if let Some(date) = &current.tcb_date {
        put("tcb_date_current", date.clone().into());
    }
    let expired = if verified.collateral_expired {
        "1"
    } else {
        "0"
    };
    put("collateral_expiration_status", expired.into());
    if let Some(date) = &verified.tcb_date {
        put("tcb_date", date.clone().into());
    }
    for (name, date) in [
        ("earliest_issue_date", verified.earliest_issue_date),
        ("latest_issue_date", verified.latest_issue_date),
        (
            "earliest_expiration_date",
            verified.earliest_expiration_date,
        ),
    ] {
        if let Ok(text) = date.format(&Rfc3339) {
            put(name, text.into());
        }
    }
    if let Some(number) = verified.pck_crl_num {
        put("pck_crl_num", number.into());
    }
    if let Some(number) = verified.root_ca_crl_num {
        put("root_ca_crl_num", number.into());
    }
    // Upstream reports the root CA CRL number here (a bug); this is the TCB evaluation number.
    put("tcb_eval_num", verified.tcb_eval_num.into());
    let pck = &verified.pck;
    put("platform_provider_id", hex::encode(pck.ppid).into());
    put("sgx_type", pck.sgx_type.to_string().into());
    if pck.sgx_type != SgxType::Standard {
        let flags = pck.configuration.unwrap_or_default();
        put(
            "is_dynamic_platform",
            flags.dynamic_platform.unwrap_or(false).into(),
        );
        put("is_cached_keys", flags.cached_keys.unwrap_or(false).into());
        put("is_smt_enabled", flags.smt_enabled.unwrap_or(false).into());
    }
    put("root_key_id", hex::encode(verified.root_key_id).into());
    if let Some(id) = pck.platform_instance_id {
        // Upstream prints the 16 bytes in reverse order (its golden claims for tdx_quote_4
        // and occlum_quote); kept so policies written against upstream compare equal.
        let mut reversed = id;
        reversed.reverse();
        put("platform_instance_id", hex::encode(reversed).into());
    }
}
