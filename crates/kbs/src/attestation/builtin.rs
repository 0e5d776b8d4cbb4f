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
}

pub(super) fn service_error_kind(e: &attestation_service::Error) -> ErrorKind {
    use attestation_service::Error as As;
    match e {
        As::PolicyEncoding | As::PolicyNotUtf8 | As::InitData(_) => ErrorKind::BadRequest,
        As::Policy(policy::Error::PolicyNotFound { .. }) => ErrorKind::NotFound,
        As::Policy(policy::Error::Compile { .. } | policy::Error::InvalidPolicyId { .. }) => {
            ErrorKind::BadRequest
        }
        As::Rvps(rvps::Error::Storage(_) | rvps::Error::MalformedRecord { .. }) => {
            ErrorKind::Internal
        }
        As::Rvps(_) => ErrorKind::BadRequest,
        As::Verifier { .. } | As::NoEvidence => ErrorKind::Refused,
        _ => ErrorKind::Internal,
    }
}
