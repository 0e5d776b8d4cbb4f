//! `AttestationService`: the evaluation pipeline (spec §4, §5) and its admin operations.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jose::{Jwk, JwkSet, VerifyingKey};
use kbs_types::Tee;
use policy::{PolicyStore, RuleValue};
use rvps::{BuiltinRvps, ReferenceValueProvider, RemoteRvps};
use serde_json::Value;
use storage::StorageProvider;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use verifier::collateral::cache::CollateralCache;
use verifier::collateral::fetch::{FetchPolicy, Fetcher};
use verifier::{TeeClass, Verifier, VerifierContext};

use crate::binding::{expected_init_data_hash, expected_report_data};
use crate::claims::{AnnotatedEvidence, annotate};
use crate::config::{AsConfig, RvpsConfig, TokenBrokerConfig};
use crate::default_policies::{DEFAULT_POLICIES, shipped};
use crate::ear::appraisal::{Appraisal, RuleOutcome};
use crate::ear::token::{EarClaims, VerifierId};
use crate::reference_value::{Unavailable, query_reference_value, watching_rvps};
use crate::signer::TokenSigner;
use crate::{Error, VerificationRequest};

/// Namespace of the appraisal policies (`<id>.rego`).
const POLICY_NAMESPACE: &str = "attestation_service_policy";
/// Namespace of the built-in RVPS.
const REFERENCE_VALUE_NAMESPACE: &str = "reference_value";
const TRUST_CLAIMS_RULE: &str = "data.policy.trust_claims";
const EXTENSIONS_RULE: &str = "data.policy.extensions";

/// How many appraisal-policy evaluations may run at once: two per core of this machine.
///
/// Evaluations run on the Tokio blocking pool because `query_reference_value` blocks on the
/// RVPS, and the RVPS's own storage reads (LocalFs, LocalJson) need a blocking thread too. Were
/// every blocking thread an evaluation waiting for such a read, no read could run: each query
/// would stall until its timeout. Bounding evaluations below the pool's size leaves threads for
/// the reads (a host sizes its pool above this, as the KBS does); it also stops a burst of
/// attestations from starting more CPU-bound evaluations than there are cores to run them.
pub fn policy_evaluation_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .saturating_mul(2)
}

/// The source of the current time: `iat` of the tokens and the verification time of the
/// verifiers (certificate validity); injected so tests can pin it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The attestation service: verifies evidence, appraises the claims with Rego policies and
/// issues signed EAR tokens.
pub struct AttestationService {
    broker: TokenBrokerConfig,
    verifier_config: verifier::VerifierConfig,
    policies: PolicyStore,
    rvps: Arc<dyn ReferenceValueProvider>,
    signer: TokenSigner,
    clock: Clock,
    /// What the verifiers are created in: [`AttestationService::clock`] and the collateral
    /// fetcher (with the persistent cache when `collateral_cache_dir` is set).
    verifier_context: VerifierContext,
    /// One verifier per TEE, created on first use and reused: verifiers hold no per-request
    /// state, and reusing them keeps what they cache (verified VEK chains, downloaded
    /// collateral) across requests.
    verifiers: Mutex<HashMap<Tee, Arc<dyn Verifier>>>,
    /// Permits for appraisal-policy evaluations, [`policy_evaluation_slots`] of them.
    evaluations: Arc<Semaphore>,
}

impl std::fmt::Debug for AttestationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationService")
            .field("broker", &self.broker)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl AttestationService {
    /// Starts the service: opens its namespaces in `storage`, seeds the default policies that
    /// are absent, and loads the configured token signer (or generates an ephemeral P-256 key).
    pub async fn new(config: AsConfig, storage: &StorageProvider) -> Result<Self, Error> {
        let signer = match &config.attestation_token_broker.signer {
            Some(signer) => TokenSigner::from_config(signer)?,
            None => TokenSigner::ephemeral()?,
        };
        Self::with_signer(config, storage, signer).await
    }

    /// As [`AttestationService::new`], but signs with `signer` and ignores
    /// `attestation_token_broker.signer`; for a host (the KBS) that keeps its own key.
    pub async fn with_signer(
        config: AsConfig,
        storage: &StorageProvider,
        signer: TokenSigner,
    ) -> Result<Self, Error> {
        let AsConfig {
            storage_type,
            rvps_config,
            attestation_token_broker: broker,
            verifier_config,
            collateral_cache_dir,
        } = config;
        check_broker(&broker)?;
        let collateral_context = collateral_context(collateral_cache_dir.as_deref())?;

        let rvps: Arc<dyn ReferenceValueProvider> = match rvps_config {
            RvpsConfig::BuiltIn {
                storage_type: rvps_storage_type,
                ..
            } => Arc::new(BuiltinRvps::new(storage.namespace(
                REFERENCE_VALUE_NAMESPACE,
                rvps_storage_type.or(storage_type),
            )?)),
            // Connected now, as upstream: a missing RVPS fails start-up rather than every
            // later evaluation. Afterwards the channel reconnects by itself.
            RvpsConfig::GrpcRemote { address } => match RemoteRvps::connect(&address).await {
                Ok(remote) => Arc::new(remote),
                Err(source) => return Err(Error::RemoteRvps { address, source }),
            },
        };

        let policies = PolicyStore::new(
            storage.namespace(POLICY_NAMESPACE, storage_type)?,
            vec![query_reference_value(Arc::clone(&rvps))],
        );
        for (id, text) in DEFAULT_POLICIES {
            policies.seed(id, text).await?;
        }

        let clock: Clock = Arc::new(OffsetDateTime::now_utc);
        Ok(Self {
            broker,
            verifier_config,
            policies,
            rvps,
            signer,
            verifier_context: collateral_context.with_clock(Arc::new(VerifierClock(clock.clone()))),
            clock,
            verifiers: Mutex::new(HashMap::new()),
            evaluations: Arc::new(Semaphore::new(policy_evaluation_slots())),
        })
    }

    /// Replaces the clock that stamps `iat` and that the verifiers read the verification time
    /// from (tests pin it, so recorded evidence verifies at the time its collateral was valid).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.verifier_context = self
            .verifier_context
            .with_clock(Arc::new(VerifierClock(clock.clone())));
        self.clock = clock;
        // Verifiers made so far hold the old clock.
        self.verifiers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self
    }

    /// Verifies every request, appraises each returned entry with the policy
    /// `<policy_ids[0]>_<class>`, and returns one signed EAR token with a submodule per entry
    /// (`cpu0`, `gpu0`, `gpu1`, ...). Only the first policy id is used.
    ///
    /// Any verifier or policy failure fails the whole evaluation: a token never describes only
    /// part of the evidence it was given.
    pub async fn evaluate(
        &self,
        requests: Vec<VerificationRequest>,
        policy_ids: &[String],
    ) -> Result<String, Error> {
        let (policy_id, ignored) = policy_ids.split_first().ok_or(Error::NoPolicyId)?;
        if !ignored.is_empty() {
            tracing::warn!(
                ?ignored,
                "only the first policy id is used; the others are ignored"
            );
        }

        let mut entries = Vec::new();
        for request in requests {
            entries.extend(self.verify(request).await?);
        }
        if entries.is_empty() {
            return Err(Error::NoEvidence);
        }

        let names = submod_names(entries.iter().map(|(class, _)| class));
        let mut submods = BTreeMap::new();
        for (name, (class, annotated)) in names.into_iter().zip(entries) {
            submods.insert(name, self.appraise(policy_id, &class, annotated).await?);
        }
        tracing::info!(
            policy_id,
            statuses = ?submods
                .iter()
                .map(|(name, appraisal)| (name.as_str(), appraisal.status.to_string()))
                .collect::<Vec<_>>(),
            "attestation token issued"
        );

        let iat = (self.clock)().unix_timestamp();
        let claims = EarClaims {
            eat_profile: &self.broker.profile_name,
            iat,
            verifier_id: VerifierId {
                developer: &self.broker.developer_name,
                build: &self.broker.build_name,
            },
            submods,
            exp: iat + i64::from(self.broker.duration_min) * 60,
            iss: &self.broker.issuer_name,
        };
        self.signer.sign(&claims)
    }

    /// Stores a policy sent as base64url without padding (the upstream admin encoding),
    /// replacing any policy with the same id. It must be UTF-8 and compile.
    pub async fn set_policy(&self, id: &str, policy_b64url: &str) -> Result<(), Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(policy_b64url)
            .map_err(|_| Error::PolicyEncoding)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::PolicyNotUtf8)?;
        self.policies.set(id, &text).await?;
        Ok(())
    }

    /// The Rego text stored under `id`.
    pub async fn get_policy(&self, id: &str) -> Result<String, Error> {
        Ok(self.policies.get_text(id).await?)
    }

    /// The ids of all stored policies, sorted.
    pub async fn list_policies(&self) -> Result<Vec<String>, Error> {
        Ok(self.policies.list().await?)
    }

    /// Deletes a policy and returns whether one was stored under `id`.
    ///
    /// Deleting one of the shipped defaults (`default_cpu`, `default_gpu`, `default_switch`,
    /// `default_ppcie`) restores the shipped text instead: without it the AS could not appraise
    /// that device class at all.
    pub async fn delete_policy(&self, id: &str) -> Result<bool, Error> {
        match shipped(id) {
            Some(text) => {
                let existed = match self.policies.get_text(id).await {
                    Ok(_) => true,
                    Err(policy::Error::PolicyNotFound { .. }) => false,
                    Err(err) => return Err(err.into()),
                };
                self.policies.set(id, text).await?;
                Ok(existed)
            }
            None => Ok(self.policies.delete(id).await?),
        }
    }

    /// Registers the reference values in an RVPS register message; returns their names.
    pub async fn register_reference_value(&self, message: &str) -> Result<Vec<String>, Error> {
        Ok(self.rvps.register(message).await?)
    }

    /// The reference value stored under `id`, if any.
    pub async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, Error> {
        Ok(self.rvps.query(id).await?)
    }

    /// Deletes the reference value stored under `id`; returns whether one was stored. A
    /// `GrpcRemote` provider calls `DeleteReferenceValue`, our extension beyond upstream: an
    /// upstream RVPS lacks it ([`rvps::Error::UnsupportedRemoteOperation`]).
    pub async fn delete_reference_value(&self, id: &str) -> Result<bool, Error> {
        Ok(self.rvps.delete(id).await?)
    }

    /// The reference value provider this service reads (built in or `GrpcRemote`), for a
    /// front end serving the RVPS API on the AS port.
    pub fn reference_value_provider(&self) -> Arc<dyn ReferenceValueProvider> {
        Arc::clone(&self.rvps)
    }

    /// The public key that verifies this service's tokens, as in their header.
    pub fn token_verifying_jwk(&self) -> Jwk {
        self.signer.jwk().clone()
    }

    /// The verifying key for this service's tokens, for an in-process relying party.
    pub fn token_verifying_key(&self) -> VerifyingKey {
        self.signer.key().verifying_key()
    }

    /// The JWK set served at `/.well-known/jwks.json`: `{"keys": [<header jwk>]}`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.token_verifying_jwk()],
        }
    }

    /// The supplemental challenge the verifier of `tee` wants the attester to answer (spec
    /// §2.4 `GetAttestationChallenge`). Fails when `tee` has no verifier here; none of the
    /// verifiers built so far asks for one, so a supported TEE gets `""` (upstream: only `se`
    /// has a challenge).
    pub async fn generate_supplemental_challenge(
        &self,
        tee: Tee,
        _tee_parameters: &str,
    ) -> Result<String, Error> {
        self.verifier(tee)
            .map_err(|source| Error::SupplementalChallenge { tee, source })?;
        Ok(String::new())
    }

    /// Verifies one request and annotates each entry the verifier returns.
    async fn verify(
        &self,
        request: VerificationRequest,
    ) -> Result<Vec<(TeeClass, AnnotatedEvidence)>, Error> {
        let tee = request.tee;
        let verifier_error = |source| Error::Verifier { tee, source };
        let verifier = self.verifier(tee).map_err(verifier_error)?;
        let (report_data, runtime_data_claims) = expected_report_data(
            request.runtime_data.as_ref(),
            request.runtime_data_hash_algorithm,
        )?;
        let (init_data_hash, init_data_claims) =
            expected_init_data_hash(request.init_data.as_ref())?;
        let results = verifier
            .evaluate(&request.evidence, &report_data, &init_data_hash)
            .await
            .map_err(verifier_error)?;
        results
            .into_iter()
            .map(|(claims, class)| {
                let annotated = annotate(
                    tee,
                    claims,
                    &runtime_data_claims,
                    &init_data_claims,
                    self.broker.verbose_token,
                )?;
                Ok((class, annotated))
            })
            .collect()
    }

    /// The verifier for `tee`, created in this service's context on first use.
    fn verifier(&self, tee: Tee) -> Result<Arc<dyn Verifier>, verifier::Error> {
        let mut verifiers = self
            .verifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(verifier) = verifiers.get(&tee) {
            return Ok(Arc::clone(verifier));
        }
        // Creating a verifier does no I/O, so holding the lock while doing so is cheap. A
        // failure (an unsupported TEE, an invalid verifier table) is not remembered.
        let verifier =
            verifier::verifier_for_with(tee, &self.verifier_config, &self.verifier_context)?;
        verifiers.insert(tee, Arc::clone(&verifier));
        Ok(verifier)
    }

    /// Appraises one entry with `<policy_id>_<class>`.
    async fn appraise(
        &self,
        policy_id: &str,
        class: &TeeClass,
        annotated: AnnotatedEvidence,
    ) -> Result<Appraisal, Error> {
        let evaluated = format!("{policy_id}_{class}");
        let policy = self.policies.compiled(&evaluated).await?;
        let input = Value::Object(annotated.clone().into_iter().collect());
        // `query_reference_value` blocks on the RVPS, so evaluate on a blocking thread, holding
        // a permit until the evaluation ends (even if this request is dropped meanwhile).
        let permit = Arc::clone(&self.evaluations)
            .acquire_owned()
            .await
            .map_err(|_| Error::PolicyTask)?;
        let (outcome, unavailable) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            watching_rvps(|| {
                // Both rules on one engine clone with the input converted once, instead of a
                // clone and a conversion per rule; a missing rule is still reported for that
                // rule alone.
                let [trust_claims, extensions] =
                    policy.eval_rules([TRUST_CLAIMS_RULE, EXTENSIONS_RULE], &input, None)?;
                let trust_claims = rule_outcome(trust_claims)?;
                let extensions = rule_outcome(extensions)?;
                Ok::<_, policy::Error>((trust_claims, extensions))
            })
        })
        .await
        .map_err(|_| Error::PolicyTask)?;
        // A query that got no answer makes the outcome meaningless whatever it is: the policy
        // failed on it, or (had the engine swallowed the error) decided without the value.
        if let Some(Unavailable { id, cause }) = unavailable {
            return Err(Error::ReferenceValueProviderUnavailable {
                policy_id: evaluated,
                id,
                source: Box::new(cause),
            });
        }
        let (trust_claims, extensions) = outcome?;
        Appraisal::from_policy(&evaluated, policy_id, trust_claims, extensions, annotated)
    }
}

/// The AS clock as the verifiers' clock, so one clock drives both `iat` and the verification
/// time.
struct VerifierClock(Clock);

impl std::fmt::Debug for VerifierClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifierClock")
    }
}

impl verifier::Clock for VerifierClock {
    fn now(&self) -> u64 {
        // A time before 1970 makes every certificate "not yet valid": fails closed.
        u64::try_from((self.0)().unix_timestamp()).unwrap_or(0)
    }
}

/// The verifier context without its clock: downloads go through a fetcher whose cache lives
/// in `cache_dir` when one is configured, else through the process-wide in-memory one.
fn collateral_context(cache_dir: Option<&Path>) -> Result<VerifierContext, Error> {
    let Some(dir) = cache_dir else {
        return Ok(VerifierContext::new());
    };
    let cache = Arc::new(CollateralCache::persistent(dir));
    let fetcher =
        Fetcher::new(cache, FetchPolicy::default()).map_err(|source| Error::CollateralFetcher {
            dir: dir.to_owned(),
            source,
        })?;
    Ok(VerifierContext::new().with_fetcher(fetcher))
}

/// `<class><n>` for each entry, `n` counting per class from 0 in entry order.
fn submod_names<'a>(classes: impl Iterator<Item = &'a TeeClass>) -> Vec<String> {
    // Counted by name, so a verifier reporting `Other("gpu")` shares numbering with `Gpu`
    // instead of overwriting `gpu0`.
    let mut per_class: HashMap<String, usize> = HashMap::new();
    classes
        .map(|class| {
            let index = per_class.entry(class.to_string()).or_default();
            let name = format!("{class}{index}");
            *index += 1;
            name
        })
        .collect()
}

fn rule_outcome(result: Result<RuleValue, policy::Error>) -> Result<RuleOutcome, policy::Error> {
    match result {
        Ok(RuleValue::Value(value)) => Ok(RuleOutcome::Value(value)),
        Ok(RuleValue::Undefined) => Ok(RuleOutcome::Undefined),
        Err(policy::Error::RuleNotFound { .. }) => Ok(RuleOutcome::Missing),
        Err(err) => Err(err),
    }
}

/// Load-time checks on the broker settings, so a bad value fails start-up, not every request.
fn check_broker(broker: &TokenBrokerConfig) -> Result<(), Error> {
    if broker.duration_min == 0 {
        return Err(Error::ZeroTokenDuration);
    }
    for (field, value) in [
        ("developer_name", &broker.developer_name),
        ("build_name", &broker.build_name),
        ("profile_name", &broker.profile_name),
    ] {
        if value.is_empty() {
            return Err(Error::EmptyBrokerField { field });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn service() -> AttestationService {
        let storage = storage::StorageProvider::new(&storage::StorageConfig::default()).unwrap();
        AttestationService::new(crate::AsConfig::default(), &storage)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn verifiers_are_created_once_per_tee_and_reused() {
        let service = service().await;
        let first = service.verifier(Tee::Snp).unwrap();
        let again = service.verifier(Tee::Snp).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let other = service.verifier(Tee::Sample).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(matches!(
            service.verifier(Tee::Se).err(),
            Some(verifier::Error::Unsupported { tee: Tee::Se })
        ));
    }

    #[tokio::test]
    async fn a_new_clock_replaces_the_verifiers_made_with_the_old_one() {
        let service = service().await;
        let before = service.verifier(Tee::Snp).unwrap();
        let pinned = OffsetDateTime::from_unix_timestamp(1_748_736_000).unwrap();
        let service = service.with_clock(Arc::new(move || pinned));
        let after = service.verifier(Tee::Snp).unwrap();
        assert!(!Arc::ptr_eq(&before, &after));
        assert_eq!(
            verifier::Clock::now(&*service.verifier_context.clock()),
            1_748_736_000
        );
    }

    /// An RVPS that answers `bad` with a malformed-record error and never answers the rest.
    struct Faulty;

    #[async_trait::async_trait]
    impl ReferenceValueProvider for Faulty {
        async fn register(&self, _message: &str) -> rvps::Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn query(&self, id: &str) -> rvps::Result<Option<Value>> {
            if id == "bad" {
                return Err(rvps::Error::MalformedRecord {
                    name: id.to_owned(),
                    source: serde_json::from_str::<Value>("{").unwrap_err(),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok(None)
        }
        async fn delete(&self, _id: &str) -> rvps::Result<bool> {
            Ok(false)
        }
    }

    /// The default service with `default_cpu` reading reference values from [`Faulty`] with a
    /// 50 ms query limit, and `rego` stored as `probe_cpu`.
    async fn service_over_faulty_rvps(rego: &str) -> AttestationService {
        let mut service = service().await;
        let storage = storage::StorageProvider::new(&storage::StorageConfig::default()).unwrap();
        let extension = crate::reference_value::query_reference_value_within(
            Arc::new(Faulty),
            std::time::Duration::from_millis(50),
        );
        service.policies = PolicyStore::new(
            storage.namespace(POLICY_NAMESPACE, None).unwrap(),
            vec![extension],
        );
        for (id, text) in DEFAULT_POLICIES {
            service.policies.seed(id, text).await.unwrap();
        }
        service.policies.set("probe_cpu", rego).await.unwrap();
        service
    }

    fn sample() -> VerificationRequest {
        VerificationRequest {
            tee: Tee::Sample,
            evidence: serde_json::json!({"svn": "1"}),
            runtime_data: None,
            runtime_data_hash_algorithm: kbs_types::HashAlgorithm::Sha384,
            init_data: None,
        }
    }

    #[tokio::test]
    async fn an_rvps_that_does_not_answer_is_unavailability_not_a_policy_failure() {
        let service = service_over_faulty_rvps("package policy\n").await;
        let err = service
            .evaluate(vec![sample()], &["default".to_owned()])
            .await
            .unwrap_err();
        let Error::ReferenceValueProviderUnavailable {
            policy_id,
            id,
            source,
        } = &err
        else {
            panic!("unavailability expected: {err:?}");
        };
        assert_eq!(policy_id, "default_cpu");
        // whichever query of the shipped policy's sample rules runs first
        assert!(["launch_digest", "svn"].contains(&id.as_str()), "{id}");
        assert!(matches!(**source, crate::RvpsUnavailable::NoAnswer { .. }));
        assert!(
            err.to_string()
                .contains("reference value provider is unavailable")
        );
    }

    #[tokio::test]
    async fn a_malformed_stored_record_stays_a_policy_failure() {
        let rego = "package policy\n\ntrust_claims := {\"hardware\": 2} if query_reference_value(\"bad\")\n";
        let service = service_over_faulty_rvps(rego).await;
        let err = service
            .evaluate(vec![sample()], &["probe".to_owned()])
            .await
            .unwrap_err();
        let Error::Policy(policy::Error::Evaluation { message, .. }) = &err else {
            panic!("policy failure expected: {err:?}");
        };
        assert!(
            message.contains("stored reference value \"bad\" is malformed"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_deleted_reference_value_is_gone_and_deleting_it_again_finds_nothing() {
        use base64::Engine as _;
        let service = service().await;
        let payload = base64::engine::general_purpose::STANDARD.encode(r#"{"svn":["1"]}"#);
        let message = serde_json::json!({"version": "0.1.0", "type": "sample", "payload": payload});
        service
            .register_reference_value(&message.to_string())
            .await
            .unwrap();
        assert!(
            service
                .query_reference_value("svn")
                .await
                .unwrap()
                .is_some()
        );
        assert!(service.delete_reference_value("svn").await.unwrap());
        assert_eq!(service.query_reference_value("svn").await.unwrap(), None);
        assert!(!service.delete_reference_value("svn").await.unwrap());
    }

    #[test]
    fn a_clock_before_1970_reads_as_the_epoch() {
        let clock = VerifierClock(Arc::new(|| {
            OffsetDateTime::UNIX_EPOCH - time::Duration::DAY
        }));
        assert_eq!(verifier::Clock::now(&clock), 0);
    }

    #[test]
    fn submods_are_numbered_per_class_in_entry_order() {
        let classes = [
            TeeClass::Cpu,
            TeeClass::Gpu,
            TeeClass::Switch,
            TeeClass::Gpu,
            TeeClass::Other("gpu".into()),
            TeeClass::Ppcie,
        ];
        assert_eq!(
            submod_names(classes.iter()),
            ["cpu0", "gpu0", "switch0", "gpu1", "gpu2", "ppcie0"]
        );
    }
}
