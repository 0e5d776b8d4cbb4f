//! Admin operations: resources, resource and attestation policies, reference values
//! (`kbs-protocol.md` §6.3, §7, §8, §9.2). Every request carries `Authorization: Bearer <JWT>`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::client::{check_status, checked_path};
use crate::{ClientError, KbsClient};

/// The `role` claim of minted admin tokens unless configured otherwise; the role upstream's
/// sample ACL and our embedded defaults grant `^/kbs/.+$`.
pub const DEFAULT_ADMIN_ROLE: &str = "admin";

/// Lifetime of a minted admin token. Short, because each request mints its own; the KBS allows
/// 60 s of clock skew on `exp`.
pub const ADMIN_TOKEN_LIFETIME_SECS: i64 = 300;

/// How admin requests authenticate.
pub(crate) enum AdminCredentials {
    /// Mint a token per request with this key.
    SigningKey(Box<jose::SigningKey>),
    /// Send this token as is.
    Token(Zeroizing<String>),
}

/// Admin credentials plus the claims minted tokens carry.
pub(crate) struct Admin {
    pub(crate) credentials: AdminCredentials,
    pub(crate) role: String,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
}

impl Admin {
    /// The bearer token for one admin request, valid from `now` (Unix seconds).
    fn token(&self, now: i64) -> Result<Zeroizing<String>, ClientError> {
        match &self.credentials {
            AdminCredentials::Token(token) => Ok(token.clone()),
            AdminCredentials::SigningKey(key) => {
                let claims = admin_claims(
                    &self.role,
                    self.issuer.as_deref(),
                    self.audience.as_deref(),
                    now,
                );
                let extras = jose::jwt::HeaderExtras::default();
                Ok(Zeroizing::new(jose::jwt::sign(key, &extras, &claims)?))
            }
        }
    }
}

/// The claims of a minted admin token: `role`, `iat`, `exp` and the optional `iss` and `aud`
/// (`aud` as a one-element array, as upstream's admin tokens carry it).
pub fn admin_claims(role: &str, issuer: Option<&str>, audience: Option<&str>, now: i64) -> Value {
    let mut claims = Map::new();
    claims.insert("role".to_owned(), json!(role));
    claims.insert("iat".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + ADMIN_TOKEN_LIFETIME_SECS));
    if let Some(issuer) = issuer {
        claims.insert("iss".to_owned(), json!(issuer));
    }
    if let Some(audience) = audience {
        claims.insert("aud".to_owned(), json!([audience]));
    }
    Value::Object(claims)
}

/// The body of a sample reference-value registration: `{"version":"0.1.0","type":"sample",
/// "payload": b64({name: values})}` with standard, padded base64 (`attestation-service.md`
/// §10.1).
pub fn sample_reference_value_message(name: &str, values: &Value) -> Value {
    let mut provenance = Map::new();
    provenance.insert(name.to_owned(), values.clone());
    let payload = STANDARD.encode(Value::Object(provenance).to_string());
    json!({"version": "0.1.0", "type": "sample", "payload": payload})
}

impl KbsClient {
    /// Stores `bytes` as the resource at `path` (`POST /kbs/v0/resource/<path>`).
    pub async fn set_resource(&self, path: &str, bytes: &[u8]) -> Result<(), ClientError> {
        let suffix = format!("resource/{}", checked_path(path)?);
        self.admin_request(
            Method::POST,
            &suffix,
            Some(("application/octet-stream", bytes.to_vec())),
        )
        .await
        .map(drop)
    }

    /// Deletes the resource at `path` (`DELETE /kbs/v0/resource/<path>`).
    pub async fn delete_resource(&self, path: &str) -> Result<(), ClientError> {
        let suffix = format!("resource/{}", checked_path(path)?);
        self.admin_request(Method::DELETE, &suffix, None)
            .await
            .map(drop)
    }

    /// Replaces the resource policy with this Rego text (sent b64url without padding, §7).
    pub async fn set_resource_policy(&self, rego: &str) -> Result<(), ClientError> {
        let body = json!({"policy": URL_SAFE_NO_PAD.encode(rego)});
        self.admin_json(Method::POST, "resource-policy", &body)
            .await
            .map(drop)
    }

    /// The ids of the stored resource policies (`GET /kbs/v0/resource-policy`, §7).
    pub async fn list_resource_policies(&self) -> Result<Vec<String>, ClientError> {
        let body = self
            .admin_request(Method::GET, "resource-policy", None)
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::UnexpectedResponse(format!(
                "resource policy list is not a string array: {e}"
            ))
        })
    }

    /// Sets the attestation policy `id` (e.g. `default_cpu`) to this Rego text (§6.3).
    pub async fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<(), ClientError> {
        let body = json!({
            "type": "rego",
            "policy_id": id,
            "policy": URL_SAFE_NO_PAD.encode(rego),
        });
        self.admin_json(Method::POST, "attestation-policy", &body)
            .await
            .map(drop)
    }

    /// The Rego text of attestation policy `id` (`GET /kbs/v0/attestation-policy/<id>`, answer
    /// `{"policy_id", "policy": <b64url Rego>}`; not offered by upstream KBS, which answers 404).
    pub async fn get_attestation_policy(&self, id: &str) -> Result<String, ClientError> {
        #[derive(serde::Deserialize)]
        struct AttestationPolicy {
            policy: String,
        }
        let suffix = format!("attestation-policy/{}", checked_id(id)?);
        let body = self.admin_request(Method::GET, &suffix, None).await?;
        let answer: AttestationPolicy = serde_json::from_slice(&body).map_err(|e| {
            ClientError::UnexpectedResponse(format!("attestation policy answer: {e}"))
        })?;
        let text = URL_SAFE_NO_PAD
            .decode(answer.policy.as_bytes())
            .map_err(|e| {
                ClientError::UnexpectedResponse(format!("attestation policy is not base64url: {e}"))
            })?;
        String::from_utf8(text).map_err(|_| {
            ClientError::UnexpectedResponse("attestation policy is not UTF-8".to_owned())
        })
    }

    /// The ids of the stored attestation policies (`GET /kbs/v0/attestation-policy`; not
    /// offered by upstream KBS).
    pub async fn list_attestation_policies(&self) -> Result<Vec<String>, ClientError> {
        let body = self
            .admin_request(Method::GET, "attestation-policy", None)
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::UnexpectedResponse(format!(
                "attestation policy list is not a string array: {e}"
            ))
        })
    }

    /// Deletes the attestation policy `id` (`DELETE /kbs/v0/attestation-policy/<id>`; not
    /// offered by upstream KBS).
    pub async fn delete_attestation_policy(&self, id: &str) -> Result<(), ClientError> {
        let suffix = format!("attestation-policy/{}", checked_id(id)?);
        self.admin_request(Method::DELETE, &suffix, None)
            .await
            .map(drop)
    }

    /// Registers reference values: `message_json` is an RVPS message sent verbatim (§6.3).
    pub async fn register_reference_value(&self, message_json: &str) -> Result<(), ClientError> {
        self.admin_request(
            Method::POST,
            "reference-value",
            Some(("application/json", message_json.as_bytes().to_vec())),
        )
        .await
        .map(drop)
    }

    /// Registers `values` under `name` through the RVPS `sample` extractor.
    pub async fn set_sample_reference_value(
        &self,
        name: &str,
        values: Value,
    ) -> Result<(), ClientError> {
        let message = sample_reference_value_message(name, &values);
        self.register_reference_value(&message.to_string()).await
    }

    /// The reference value stored under `id` (`GET /kbs/v0/reference-value/<id>`).
    pub async fn query_reference_value(&self, id: &str) -> Result<Value, ClientError> {
        let suffix = format!("reference-value/{}", checked_id(id)?);
        let body = self.admin_request(Method::GET, &suffix, None).await?;
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::UnexpectedResponse(format!("reference value is not JSON: {e}"))
        })
    }

    /// Deletes the reference value stored under `id` (`DELETE /kbs/v0/reference-value/<id>`;
    /// not offered by upstream KBS, which answers 404). A KBS whose attestation service or RVPS
    /// cannot delete answers 501.
    pub async fn delete_reference_value(&self, id: &str) -> Result<(), ClientError> {
        let suffix = format!("reference-value/{}", checked_id(id)?);
        self.admin_request(Method::DELETE, &suffix, None)
            .await
            .map(drop)
    }

    async fn admin_json(
        &self,
        method: Method,
        suffix: &str,
        body: &Value,
    ) -> Result<Vec<u8>, ClientError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ClientError::InvalidInput(format!("request body: {e}")))?;
        self.admin_request(method, suffix, Some(("application/json", bytes)))
            .await
    }

    /// Sends one admin request with a fresh bearer token and returns the answer body.
    async fn admin_request(
        &self,
        method: Method,
        suffix: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Vec<u8>, ClientError> {
        let admin = self.admin.as_ref().ok_or(ClientError::NoAdminCredentials)?;
        let token = admin.token(time::OffsetDateTime::now_utc().unix_timestamp())?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.as_str())).map_err(|_| {
                ClientError::InvalidInput("admin token is not a valid header value".to_owned())
            })?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method, self.endpoint(suffix)?)
            .header(AUTHORIZATION, auth);
        if let Some((content_type, bytes)) = body {
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = check_status(request.send().await?).await?;
        Ok(response.bytes().await?.to_vec())
    }
}

/// Policy and reference-value ids become URL path segments: refuse anything the URL parser
/// would rewrite or that would leave the path.
fn checked_id(id: &str) -> Result<&str, ClientError> {
    checked_path(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_claims_carry_role_times_and_optional_issuer_and_audience() {
        let claims = admin_claims("admin", None, None, 1000);
        assert_eq!(claims, json!({"role": "admin", "iat": 1000, "exp": 1300}));
        let claims = admin_claims("tester", Some("issuer"), Some("kbs"), 10);
        assert_eq!(
            claims,
            json!({"role": "tester", "iat": 10, "exp": 310, "iss": "issuer", "aud": ["kbs"]})
        );
    }

    #[test]
    fn sample_reference_value_payload_is_padded_standard_base64_of_name_to_values() {
        let message = sample_reference_value_message("svn", &json!(["1"]));
        assert_eq!(message["version"], "0.1.0");
        assert_eq!(message["type"], "sample");
        let payload = message["payload"].as_str().unwrap();
        assert_eq!(payload, STANDARD.encode(r#"{"svn":["1"]}"#));
        // 13 bytes of JSON -> padded to a multiple of 4
        assert!(payload.ends_with('='));
    }

    #[tokio::test]
    async fn admin_requests_without_credentials_fail_before_sending() {
        let client = KbsClient::builder("http://127.0.0.1:1").build().unwrap();
        let err = client.set_resource("a/b/c", b"x").await.unwrap_err();
        assert!(matches!(err, ClientError::NoAdminCredentials));
    }
}
