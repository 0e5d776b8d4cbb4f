//! `type = "coco_as_builtin"`: the attestation service linked into this process (spec §6.1).

use std::sync::Arc;

use async_trait::async_trait;
use attestation_service::AttestationService;
use kbs_types::{Attestation, Tee};
use serde_json::Value;

use super::{AttestationBackend, Error, ErrorKind, POLICY_IDS, verification_requests};

/// The attestation service linked into this process (`type = "coco_as_builtin"`).
pub struct BuiltinBackend {
    service: Arc<AttestationService>,
}

impl BuiltinBackend {
    /// Wraps an attestation service.
    pub fn new(service: Arc<AttestationService>) -> Self {
        Self { service }
    }
}

#[async_trait]
impl AttestationBackend for BuiltinBackend {
    async fn verify(
        &self,
        tee: Tee,
        attestation: &Attestation,
        nonce: &str,
    ) -> Result<String, Error> {
        let requests = verification_requests(tee, attestation, nonce)?;
        let policy_ids: Vec<String> = POLICY_IDS.iter().map(|s| (*s).to_owned()).collect();
        Ok(self.service.evaluate(requests, &policy_ids).await?)
    }

    async fn set_policy(&self, id: &str, policy_b64url: &str) -> Result<(), Error> {
        Ok(self.service.set_policy(id, policy_b64url).await?)
    }

    async fn get_policy(&self, id: &str) -> Result<String, Error> {
        match self.service.get_policy(id).await {
            Err(attestation_service::Error::Policy(policy::Error::PolicyNotFound { .. })) => {
                Err(Error::PolicyNotFound { id: id.to_owned() })
            }
            other => Ok(other?),
        }
    }

    async fn list_policies(&self) -> Result<Vec<String>, Error> {
        Ok(self.service.list_policies().await?)
    }

    async fn delete_policy(&self, id: &str) -> Result<(), Error> {
        if self.service.delete_policy(id).await? {
            Ok(())
        } else {
            Err(Error::PolicyNotFound { id: id.to_owned() })
        }
    }

    async fn register_reference_value(&self, message: &str) -> Result<(), Error> {
        let names = self.service.register_reference_value(message).await?;
        tracing::info!(?names, "reference values registered");
        Ok(())
    }

    async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, Error> {
        Ok(self.service.query_reference_value(id).await?)
    }

    async fn delete_reference_value(&self, id: &str) -> Result<(), Error> {
        // A `GrpcRemote` RVPS without the delete extension fails as unsupported (501).
        if self.service.delete_reference_value(id).await? {
            tracing::info!(%id, "reference value deleted");
            Ok(())
        } else {
            Err(Error::ReferenceValueNotFound { id: id.to_owned() })
        }
    }
}

pub(super) fn service_error_kind(e: &attestation_service::Error) -> ErrorKind {
    use attestation_service::Error as As;
    match e {
        As::PolicyEncoding | As::PolicyNotUtf8 | As::InitData(_) => ErrorKind::BadRequest,
        As::Policy(policy::Error::PolicyNotFound { .. }) => ErrorKind::NotFound,
        As::Policy(policy::Error::Compile { .. } | policy::Error::InvalidPolicyId { .. }) => {
            ErrorKind::BadRequest
        }
        As::Rvps(e) => rvps_error_kind(e),
        // an appraisal that got no answer from the RVPS decided nothing (503, retry later)
        As::ReferenceValueProviderUnavailable { .. } => ErrorKind::Unavailable,
        As::Verifier { .. } | As::NoEvidence => ErrorKind::Refused,
        _ => ErrorKind::Internal,
    }
}

/// How a failure of the AS's reference value provider is reported: a remote RVPS
/// (`rvps_config.type = "GrpcRemote"`) that cannot be reached is unavailability (503, nothing
/// was decided about the request), an operation its protocol lacks is unsupported (501), and an
/// unusable answer or a local store failure is the service's own fault (500). What is left is
/// the message itself being refused (400).
fn rvps_error_kind(e: &rvps::Error) -> ErrorKind {
    use rvps::Error as Rvps;
    match e {
        Rvps::Unreachable { .. } | Rvps::TimedOut { .. } => ErrorKind::Unavailable,
        Rvps::UnsupportedRemoteOperation { .. } => ErrorKind::Unsupported,
        Rvps::Storage(_)
        | Rvps::MalformedRecord { .. }
        | Rvps::RemoteValueNotJson { .. }
        | Rvps::InvalidAddress { .. }
        | Rvps::ReadConfig { .. }
        | Rvps::ParseConfig { .. }
        | Rvps::UnsupportedConfigFormat { .. } => ErrorKind::Internal,
        _ => ErrorKind::BadRequest,
    }
}

/// Whether `e` is the AS's remote RVPS being unreachable (rather than the AS itself), on an
/// admin call or during an appraisal.
pub(super) fn rvps_unavailable(e: &attestation_service::Error) -> bool {
    use attestation_service::Error as As;
    match e {
        As::Rvps(rvps) => rvps_error_kind(rvps) == ErrorKind::Unavailable,
        As::ReferenceValueProviderUnavailable { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    //! The builtin AS over a remote RVPS (`rvps_config.type = "GrpcRemote"`): how the RVPS's
    //! failures reach a KBS client.

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::attestation::tests::{
        assert_reference_value_calls_rvps_unavailable, assert_unavailable, attest_ok, auth_attest,
        get_secret, kbs_builtin_over_rvps, loopback, memory_rvps, sample_message, send, serve_rvps,
        store_secret,
    };
    use crate::error::RVPS_UNAVAILABLE_TYPE;

    #[tokio::test]
    async fn attest_while_the_remote_rvps_is_down_is_a_503_and_works_once_it_returns() {
        let provider = memory_rvps();
        let rvps = serve_rvps(loopback(), Arc::clone(&provider)).await;
        let addr = rvps.addr;
        let state = kbs_builtin_over_rvps(addr).await;
        store_secret(&state).await;
        let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
        attest_ok(&state, &key).await;

        rvps.stop().await;
        let (answer, cookie) = auth_attest(&state, &key).await;
        assert_unavailable(
            "/attest",
            &answer,
            RVPS_UNAVAILABLE_TYPE,
            &[
                "the reference value provider is unavailable",
                &format!("rvps at http://{addr} is unreachable"),
            ],
        );
        // nothing was stored for the session: it has no token to present
        assert_eq!(
            get_secret(&state, &cookie).await.0,
            StatusCode::UNAUTHORIZED
        );

        // the RVPS is back on its address: the client re-runs /auth and /attest
        let rvps = serve_rvps(addr, provider).await;
        let (body, cookie) = attest_ok(&state, &key).await;
        assert!(body["token"].is_string(), "{body}");
        assert_eq!(get_secret(&state, &cookie).await.0, StatusCode::OK);
        rvps.stop().await;
    }

    #[tokio::test]
    async fn a_remote_rvps_that_is_down_is_a_503_naming_the_rvps() {
        // the AS checks the RVPS at start-up, so it runs first and goes away afterwards
        let rvps = serve_rvps(loopback(), memory_rvps()).await;
        let addr = rvps.addr;
        let state = kbs_builtin_over_rvps(addr).await;
        let message = sample_message("svn", &json!(["1"]));
        let (status, _, _) = send(&state, "POST", "/kbs/v0/reference-value", None, message).await;
        assert_eq!(status, StatusCode::OK);
        rvps.stop().await;

        let needle = format!("rvps at http://{addr} is unreachable");
        assert_reference_value_calls_rvps_unavailable(&state, &needle).await;
    }

    #[test]
    fn rvps_failures_map_by_cause() {
        let kind = |e: rvps::Error| Error::Service(attestation_service::Error::Rvps(e)).kind();
        assert_eq!(
            kind(rvps::Error::TimedOut {
                address: "http://a".into(),
                timeout: std::time::Duration::from_secs(1),
            }),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(rvps::Error::UnsupportedRemoteOperation {
                operation: "deleting a reference value"
            }),
            ErrorKind::Unsupported
        );
        let not_json = serde_json::from_str::<Value>("{").unwrap_err();
        assert_eq!(
            kind(rvps::Error::RemoteValueNotJson {
                address: "http://a".into(),
                id: "svn".into(),
                source: not_json,
            }),
            ErrorKind::Internal
        );
        // the remote RVPS refusing the message, like the builtin one, is the client's fault
        assert_eq!(
            kind(rvps::Error::Rejected {
                address: "http://a".into(),
                code: "Aborted".into(),
                message: "malformed register message".into(),
            }),
            ErrorKind::BadRequest
        );
        assert_eq!(kind(rvps::Error::PayloadNotBase64), ErrorKind::BadRequest);
        let timed_out = Error::Service(attestation_service::Error::Rvps(rvps::Error::TimedOut {
            address: "http://a".into(),
            timeout: std::time::Duration::from_secs(1),
        }));
        assert!(timed_out.rvps_unavailable());
        // an appraisal whose reference value queries got no answer
        let appraisal = Error::Service(
            attestation_service::Error::ReferenceValueProviderUnavailable {
                policy_id: "default_cpu".into(),
                id: "svn".into(),
                source: Box::new(attestation_service::RvpsUnavailable::NoAnswer {
                    timeout: std::time::Duration::from_secs(10),
                }),
            },
        );
        assert_eq!(appraisal.kind(), ErrorKind::Unavailable);
        assert!(appraisal.rvps_unavailable());
        assert!(
            !Error::Unavailable {
                addr: "http://as".into(),
                reason: "down".into(),
            }
            .rvps_unavailable()
        );
    }
}
