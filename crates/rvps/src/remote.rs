//! [`RemoteRvps`]: a separate `rvps` (or a `grpc-as`) reached over gRPC, behind the same
//! [`ReferenceValueProvider`] trait as the built-in RVPS (AS spec §10.5 `GrpcRemote`).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueQueryRequest, ReferenceValueRegisterRequest,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::builtin::ReferenceValueProvider;
use crate::error::{Error, Result};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one register, query or delete call may take, unless changed with
/// [`RemoteRvps::with_timeout`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 keep-alive ping interval and ack timeout, as upstream's pool (AS spec §10.5).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A gRPC client of `reference.ReferenceValueProviderService`.
///
/// It holds one HTTP/2 channel that every call (and every clone) multiplexes over; after the
/// server goes away, calls fail with [`Error::Unreachable`] and the channel reconnects on the
/// next call once the server is back.
///
/// [`ReferenceValueProvider::delete`] calls `DeleteReferenceValue`, our extension beyond
/// upstream's protocol (as the openanolis/trustee fork defines it): `NOT_FOUND` is `Ok(false)`,
/// and an upstream RVPS, which answers `UNIMPLEMENTED`, fails with
/// [`Error::UnsupportedRemoteOperation`]. The register response carries no names, so
/// [`ReferenceValueProvider::register`] returns an empty list.
#[derive(Debug, Clone)]
pub struct RemoteRvps {
    address: String,
    client: ReferenceValueProviderServiceClient<Channel>,
    timeout: Duration,
}

impl RemoteRvps {
    /// Connects to `address` (`host:port` or a URL; `http://` is prepended when there is no
    /// scheme, as upstream). Fails now if nothing answers there, as upstream's AS does.
    pub async fn connect(address: &str) -> Result<Self> {
        let (address, endpoint) = endpoint(address)?;
        let channel = endpoint.connect().await.map_err(|e| Error::Unreachable {
            address: address.clone(),
            source: Box::new(e),
        })?;
        Ok(Self::over(address, channel))
    }

    /// As [`RemoteRvps::connect`], but connects on the first call instead of now.
    pub fn connect_lazy(address: &str) -> Result<Self> {
        let (address, endpoint) = endpoint(address)?;
        let channel = endpoint.connect_lazy();
        Ok(Self::over(address, channel))
    }

    /// Replaces the per-call limit ([`CALL_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL this client talks to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The stored value's JSON text exactly as the server sent it; `None` when the server
    /// reports the id unknown (or expired).
    pub async fn query_text(&self, id: &str) -> Result<Option<String>> {
        let mut client = self.client.clone();
        let request = ReferenceValueQueryRequest {
            reference_value_id: id.to_owned(),
        };
        let response = self
            .call(async move { client.query_reference_value(request).await })
            .await?;
        Ok(response.reference_value_results)
    }

    fn over(address: String, channel: Channel) -> Self {
        Self {
            address,
            client: ReferenceValueProviderServiceClient::new(channel),
            timeout: CALL_TIMEOUT,
        }
    }

    /// One call under the per-call limit; every status is an error.
    async fn call<T>(
        &self,
        call: impl Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    ) -> Result<T> {
        self.call_status(call)
            .await?
            .map_err(|status| status_error(&self.address, &status))
    }

    /// One call under the per-call limit, the server's status left for the caller to read.
    async fn call_status<T>(
        &self,
        call: impl Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    ) -> Result<std::result::Result<T, Status>> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(Error::TimedOut {
                address: self.address.clone(),
                timeout: self.timeout,
            }),
            Ok(answer) => Ok(answer.map(tonic::Response::into_inner)),
        }
    }
}

#[async_trait]
impl ReferenceValueProvider for RemoteRvps {
    async fn register(&self, message: &str) -> Result<Vec<String>> {
        let mut client = self.client.clone();
        let request = ReferenceValueRegisterRequest {
            message: message.to_owned(),
        };
        self.call(async move { client.register_reference_value(request).await })
            .await?;
        Ok(Vec::new())
    }

    async fn query(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let Some(text) = self.query_text(id).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| Error::RemoteValueNotJson {
                address: self.address.clone(),
                id: id.to_owned(),
                source,
            })
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let mut client = self.client.clone();
        let request = ReferenceValueDeleteRequest {
            name: id.to_owned(),
        };
        let answer = self
            .call_status(async move { client.delete_reference_value(request).await })
            .await?;
        match answer {
            Ok(_) => Ok(true),
            Err(status) => delete_status(&self.address, &status),
        }
    }
}

/// Normalises the address and builds the endpoint with upstream's keep-alive settings.
fn endpoint(address: &str) -> Result<(String, Endpoint)> {
    let url = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::InvalidAddress {
            address: address.to_owned(),
            source: Box::new(e),
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .tcp_nodelay(true);
    Ok((url, endpoint))
}

/// The one mapping from gRPC statuses to crate errors: `UNAVAILABLE` is the transport failing
/// (server down, connection refused or reset); anything else is the server's answer.
fn status_error(address: &str, status: &Status) -> Error {
    match status.code() {
        Code::Unavailable => Error::Unreachable {
            address: address.to_owned(),
            source: status.message().to_owned().into(),
        },
        code => Error::Rejected {
            address: address.to_owned(),
            code: format!("{code:?}"),
            message: status.message().to_owned(),
        },
    }
}

/// What a delete's error status means: `NOT_FOUND` is our server's "no such id", and
/// `UNIMPLEMENTED` an upstream server without the extension; the rest as every other call.
fn delete_status(address: &str, status: &Status) -> Result<bool> {
    match status.code() {
        Code::NotFound => Ok(false),
        Code::Unimplemented => Err(Error::UnsupportedRemoteOperation {
            operation: "delete",
        }),
        _ => Err(status_error(address, status)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addresses_without_a_scheme_get_http() {
        assert_eq!(
            endpoint("127.0.0.1:50003").unwrap().0,
            "http://127.0.0.1:50003"
        );
        assert_eq!(
            endpoint("https://rvps.example:443").unwrap().0,
            "https://rvps.example:443"
        );
    }

    #[test]
    fn unusable_addresses_are_refused_by_name() {
        let err = endpoint("not a uri").unwrap_err();
        assert!(matches!(err, Error::InvalidAddress { .. }), "{err}");
        assert!(err.to_string().contains("not a uri"), "{err}");
    }

    #[test]
    fn statuses_map_to_unreachable_or_rejected() {
        let down = status_error("http://a", &Status::unavailable("tcp connect error"));
        assert!(matches!(down, Error::Unreachable { .. }), "{down}");
        assert_eq!(down.to_string(), "rvps at http://a is unreachable");

        let refused = status_error("http://a", &Status::aborted("malformed register message"));
        assert_eq!(
            refused.to_string(),
            "rvps at http://a refused the request (Aborted): malformed register message"
        );
    }

    #[test]
    fn delete_statuses_map_to_gone_unsupported_or_the_usual_errors() {
        assert!(!delete_status("http://a", &Status::not_found("svn")).unwrap());
        let upstream = delete_status("http://a", &Status::unimplemented("")).unwrap_err();
        assert!(
            matches!(
                upstream,
                Error::UnsupportedRemoteOperation {
                    operation: "delete"
                }
            ),
            "{upstream}"
        );
        assert!(
            upstream
                .to_string()
                .starts_with("the rvps does not support delete: upstream's"),
            "{upstream}"
        );
        let invalid = delete_status("http://a", &Status::invalid_argument("empty")).unwrap_err();
        assert!(
            matches!(&invalid, Error::Rejected { code, .. } if code == "InvalidArgument"),
            "{invalid}"
        );
        let down = delete_status("http://a", &Status::unavailable("reset")).unwrap_err();
        assert!(matches!(down, Error::Unreachable { .. }), "{down}");
    }
}
