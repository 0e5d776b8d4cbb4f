//! Fetching collateral over HTTP(S), through a [`CollateralCache`].
//!
//! A [`Fetcher`] answers from the cache when it can. On a miss it downloads the URL once, however
//! many verifications ask for the same key at the same time: the first caller starts one
//! download task and every caller waits for its result, so a burst of attestations from new
//! chips costs AMD's or Hygon's KDS one request per chip, not one per attestation. No lock is
//! held while the download runs.
//!
//! Every download is bounded: a total timeout, a cap on the response size, and a bounded number
//! of retries when the server says it is overloaded (HTTP 429 or 503), waiting as long as its
//! `Retry-After` asks (never longer than [`FetchPolicy::max_backoff`]) or, without that header,
//! an exponentially growing delay.
//!
//! [`Fetcher::fetch_response`] serves collateral that needs more than the body and expires:
//! the entry cached is built from the body and the response headers (Intel PCS sends issuer
//! chains in headers), and a cached entry past its own expiry is downloaded again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::sync::{Semaphore, watch};

use super::cache::{CacheError, CacheKey, CollateralCache};

/// Limits applied to every download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Total time for one attempt: connecting, sending, and reading the whole body.
    pub timeout: Duration,
    /// Time to establish a connection, within [`FetchPolicy::timeout`].
    pub connect_timeout: Duration,
    /// Largest response body accepted; larger responses are refused, not truncated.
    pub max_response_bytes: usize,
    /// Attempts per download, including the first (at least one).
    pub max_attempts: u32,
    /// Delay before the first retry when the server sent no `Retry-After`; doubled per retry.
    pub initial_backoff: Duration,
    /// Longest single wait. A `Retry-After` asking for more ends the download at once, so a
    /// verification is never parked for an hour behind a rate limit.
    pub max_backoff: Duration,
    /// Downloads of different keys running at once (at least one); more wait their turn.
    /// Evidence is unauthenticated until its endorsement key is fetched, so without a cap a
    /// burst of reports with made-up chip IDs would turn into a burst against the vendor's
    /// KDS and get this verifier rate-limited for everyone.
    pub max_concurrent_downloads: usize,
    /// How long a 404 for a key is remembered and answered without asking again (zero: never).
    /// A report with a made-up chip ID can be replayed at no cost to the sender; this keeps
    /// each replay from costing the vendor's KDS a request.
    pub not_found_ttl: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            // A VCEK is ~1.4 KiB, an HSK+CEK pair ~3 KiB, a KDS cert_chain ~4 KiB.
            max_response_bytes: 64 * 1024,
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_concurrent_downloads: 8,
            not_found_ttl: Duration::from_secs(60),
        }
    }
}

/// Why collateral could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL does not parse.
    #[error("invalid collateral url `{url}`")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
    },
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("could not build the collateral http client: {reason}")]
    Client {
        /// The client's error message.
        reason: String,
    },
    /// Connecting or talking to the server failed.
    #[error("could not fetch collateral from {url}: {reason}")]
    Request {
        /// The URL fetched.
        url: String,
        /// The innermost cause (e.g. `Connection refused (os error 111)`).
        reason: String,
    },
    /// An attempt took longer than [`FetchPolicy::timeout`].
    #[error("fetching collateral from {url} timed out after {timeout:?}")]
    Timeout {
        /// The URL fetched.
        url: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The server answered with an error status (e.g. 404 for an unknown chip or TCB).
    #[error("collateral server answered http {status} for {url}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The server kept answering 429/503 until the attempts ran out.
    #[error("collateral server still answered http {status} for {url} after {attempts} attempts")]
    RateLimited {
        /// The URL fetched.
        url: String,
        /// The last status (429 or 503).
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// The server asked to wait longer than [`FetchPolicy::max_backoff`].
    #[error(
        "collateral server asked to retry {url} after {retry_after:?}, longer than the {max_wait:?} allowed"
    )]
    RetryAfterTooLong {
        /// The URL fetched.
        url: String,
        /// The server's `Retry-After`.
        retry_after: Duration,
        /// The configured [`FetchPolicy::max_backoff`].
        max_wait: Duration,
    },
    /// The response body is larger than [`FetchPolicy::max_response_bytes`].
    #[error("collateral response from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The configured cap.
        limit: usize,
    },
    /// The server answered 200 with a body that is not what was asked for (e.g. an error page
    /// instead of a certificate); it is not cached.
    #[error("collateral response from {url} is not {expected}")]
    Unexpected {
        /// The URL fetched.
        url: String,
        /// What the body should have been, e.g. `a DER certificate`.
        expected: &'static str,
    },
    /// The download task ended without a result (the runtime shut down or the task panicked).
    #[error("collateral download from {url} was aborted")]
    Aborted {
        /// The URL fetched.
        url: String,
    },
    /// The cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// A cheap shape check of a downloaded body, run before it is cached (the verifier still does
/// the real checks).
#[derive(Debug, Clone, Copy)]
pub struct BodyCheck {
    /// What the body should be, for the error message (`a DER certificate`).
    pub expected: &'static str,
    /// Whether `body` has that shape.
    pub accepts: fn(&[u8]) -> bool,
}

impl BodyCheck {
    /// Accepts any body.
    pub const ANY: Self = Self {
        expected: "anything",
        accepts: |_| true,
    };
}

/// Turns a successful response into the entry to cache, for collateral whose response headers
/// matter (Intel PCS sends issuer chains in headers): `build` gets the body and the headers and
/// returns the entry, or `None` when the response is not what was asked for (it is then not
/// cached, as with [`BodyCheck`]).
#[derive(Debug, Clone, Copy)]
pub struct ResponseShape {
    /// What the response should be, for the error message (`a TCB info with its issuer chain`).
    pub expected: &'static str,
    /// Builds the entry to cache from the body and the headers.
    pub build: fn(&[u8], &HeaderMap) -> Option<Vec<u8>>,
}

/// Whether a cached entry is still current. A stale entry is downloaded again (and replaced)
/// as if it were missing; e.g. Intel collateral is current until its `nextUpdate`.
pub type Freshness = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How a download becomes a cache entry, and whether a cached one may be used.
#[derive(Clone)]
enum Shape {
    Body(BodyCheck),
    Response(ResponseShape, Freshness),
}

impl Shape {
    fn is_fresh(&self, entry: &[u8]) -> bool {
        match self {
            Self::Body(_) => true,
            Self::Response(_, fresh) => fresh(entry),
        }
    }
}

/// Fetches collateral through a cache, coalescing concurrent misses (module docs).
///
/// Cheap to clone; clones share the HTTP client, the cache and the downloads in flight.
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

type Outcome = Option<Result<Arc<[u8]>, FetchError>>;

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    cache: Arc<CollateralCache>,
    policy: FetchPolicy,
    in_flight: Mutex<HashMap<CacheKey, watch::Receiver<Outcome>>>,
    download_slots: Semaphore,
    not_found: Mutex<HashMap<CacheKey, (Instant, FetchError)>>,
}

/// Keys whose 404 is remembered at most; past this the oldest half is dropped, so made-up
/// keys cannot grow the map without bound.
const MAX_NOT_FOUND_ENTRIES: usize = 1024;

impl Fetcher {
    /// A fetcher storing what it downloads in `cache`, with the limits in `policy`.
    pub fn new(cache: Arc<CollateralCache>, policy: FetchPolicy) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            // KDS endpoints answer directly; a short redirect budget still allows a CDN move.
            .redirect(reqwest::redirect::Policy::limited(3))
            // Downloads are rare (everything is cached) and may run on different runtimes
            // over a process's life (one per test, one per CLI run); a pooled connection is
            // tied to the runtime that opened it, so pooling would only add failure modes.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|err| FetchError::Client {
                reason: root_cause(&err),
            })?;
        let download_slots = Semaphore::new(policy.max_concurrent_downloads.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                cache,
                policy,
                in_flight: Mutex::new(HashMap::new()),
                download_slots,
                not_found: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The cache this fetcher reads and fills.
    pub fn cache(&self) -> &Arc<CollateralCache> {
        &self.inner.cache
    }

    /// The limits this fetcher applies.
    pub fn policy(&self) -> &FetchPolicy {
        &self.inner.policy
    }

    /// The entry for `key`: from the cache, else downloaded from `url` and cached.
    ///
    /// Failures are not cached: the next call tries again. Concurrent calls for the same key
    /// share one download and its result, error included.
    pub async fn fetch(&self, key: &CacheKey, url: &str) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_checked(key, url, BodyCheck::ANY).await
    }

    /// Like [`Fetcher::fetch`], but a downloaded body must pass `check` before it is cached,
    /// so a server's error page answered with status 200 is refused now instead of being
    /// served from the cache for ever. Callers sharing a key should pass the same check.
    pub async fn fetch_checked(
        &self,
        key: &CacheKey,
        url: &str,
        check: BodyCheck,
    ) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_shaped(key, url, Shape::Body(check)).await
    }

    /// Like [`Fetcher::fetch_checked`], but the entry cached is what `shape` builds from the
    /// body and the response headers, and a cached entry `fresh` rejects is downloaded again
    /// (concurrent callers still share one download). Callers sharing a key should pass the
    /// same shape.
    pub async fn fetch_response(
        &self,
        key: &CacheKey,
        url: &str,
        shape: ResponseShape,
        fresh: Freshness,
    ) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_shaped(key, url, Shape::Response(shape, fresh))
            .await
    }

    async fn fetch_shaped(
        &self,
        key: &CacheKey,
        url: &str,
        shape: Shape,
    ) -> Result<Arc<[u8]>, FetchError> {
        let cached = self.inner.cache.get(key).await?;
        if let Some(value) = cached.filter(|value| shape.is_fresh(value)) {
            return Ok(value);
        }
        if let Some(err) = self.inner.remembered_not_found(key) {
            return Err(err);
        }
        let mut outcome = self.join_or_start(key, url, shape)?;
        let result = match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            Err(_) => None,
        };
        result.unwrap_or_else(|| Err(FetchError::Aborted { url: url.into() }))
    }

    /// Returns the receiver of the download for `key`, starting the download if none runs.
    fn join_or_start(
        &self,
        key: &CacheKey,
        url: &str,
        shape: Shape,
    ) -> Result<watch::Receiver<Outcome>, FetchError> {
        let mut in_flight = self.inner.in_flight();
        if let Some(outcome) = in_flight.get(key) {
            return Ok(outcome.clone());
        }
        let parsed =
            reqwest::Url::parse(url).map_err(|_| FetchError::InvalidUrl { url: url.into() })?;
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver.clone());
        drop(in_flight);

        // The download runs in its own task so that a caller giving up (a cancelled request)
        // does not cancel it for the others waiting on the same key.
        let guard = InFlightGuard {
            inner: self.inner.clone(),
            key: key.clone(),
        };
        tokio::spawn(async move {
            let result = guard
                .inner
                .download_into_cache(&guard.key, parsed, shape)
                .await;
            // Leave the map before publishing: a caller arriving afterwards finds the entry
            // in the cache (on success) or starts a fresh attempt (on failure).
            drop(guard);
            let _ = sender.send(Some(result));
        });
        Ok(receiver)
    }
}

/// The process-wide fetcher with an in-memory cache, used when a verifier is created without a
/// [`crate::VerifierContext`] that supplies its own.
///
/// Verifiers are created per request, so a cache owned by one would be empty every time; this
/// one outlives them, so concurrent and repeated attestations of a chip still share one
/// download.
pub fn shared_fetcher() -> Result<Fetcher, FetchError> {
    static SHARED: OnceLock<Result<Fetcher, FetchError>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            Fetcher::new(
                Arc::new(CollateralCache::in_memory()),
                FetchPolicy::default(),
            )
        })
        .clone()
}

impl Inner {
    /// The remembered 404 for `key`, if it is younger than [`FetchPolicy::not_found_ttl`].
    fn remembered_not_found(&self, key: &CacheKey) -> Option<FetchError> {
        let mut not_found = lock(&self.not_found);
        match not_found.get(key) {
            Some((at, err)) if at.elapsed() < self.policy.not_found_ttl => Some(err.clone()),
            Some(_) => {
                not_found.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember_not_found(&self, key: &CacheKey, err: &FetchError) {
        if self.policy.not_found_ttl.is_zero()
            || !matches!(err, FetchError::Status { status: 404, .. })
        {
            return;
        }
        let mut not_found = lock(&self.not_found);
        if not_found.len() >= MAX_NOT_FOUND_ENTRIES {
            let mut ages: Vec<Instant> = not_found.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            not_found.retain(|_, (at, _)| *at > cutoff);
        }
        not_found.insert(key.clone(), (Instant::now(), err.clone()));
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<CacheKey, watch::Receiver<Outcome>>> {
        lock(&self.in_flight)
    }

    async fn download_into_cache(
        &self,
        key: &CacheKey,
        url: reqwest::Url,
        shape: Shape,
    ) -> Result<Arc<[u8]>, FetchError> {
        // A download for this key may have finished between our caller's miss and the start
        // of this one.
        let cached = self.cache.get(key).await?;
        if let Some(value) = cached.filter(|value| shape.is_fresh(value)) {
            return Ok(value);
        }
        let url_text = url.to_string();
        let (body, headers) = {
            // The semaphore is never closed, so acquiring only waits; the permit is released
            // when the download ends, whatever its outcome.
            let _slot = self
                .download_slots
                .acquire()
                .await
                .map_err(|_| FetchError::Aborted {
                    url: url_text.clone(),
                })?;
            match self.download(url).await {
                Ok(response) => response,
                Err(err) => {
                    self.remember_not_found(key, &err);
                    return Err(err);
                }
            }
        };
        let entry: Option<Arc<[u8]>> = match &shape {
            Shape::Body(check) => (check.accepts)(&body).then(|| body.into()),
            Shape::Response(response, _) => (response.build)(&body, &headers).map(Into::into),
        };
        let Some(entry) = entry else {
            let expected = match &shape {
                Shape::Body(check) => check.expected,
                Shape::Response(response, _) => response.expected,
            };
            return Err(FetchError::Unexpected {
                url: url_text,
                expected,
            });
        };
        self.cache.put(key, entry.clone()).await?;
        Ok(entry)
    }

    /// Downloads `url`: the body and the response headers.
    async fn download(&self, url: reqwest::Url) -> Result<(Vec<u8>, HeaderMap), FetchError> {
        let policy = &self.policy;
        let url_text = url.to_string();
        let mut backoff = policy.initial_backoff;
        let mut attempt = 1;
        loop {
            let mut response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|err| request_error(&url_text, &err, policy))?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                if attempt >= policy.max_attempts {
                    return Err(FetchError::RateLimited {
                        url: url_text,
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                let delay = match retry_after(response.headers(), SystemTime::now()) {
                    Some(asked) if asked > policy.max_backoff => {
                        return Err(FetchError::RetryAfterTooLong {
                            url: url_text,
                            retry_after: asked,
                            max_wait: policy.max_backoff,
                        });
                    }
                    Some(asked) => asked,
                    None => backoff,
                };
                backoff = backoff.saturating_mul(2).min(policy.max_backoff);
                attempt += 1;
                tokio::time::sleep(delay).await;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url_text,
                    status: status.as_u16(),
                });
            }

            let limit = policy.max_response_bytes;
            let too_large = || FetchError::TooLarge {
                url: url_text.clone(),
                limit,
            };
            // Refuse early when the server announces the size; still count while streaming,
            // since a chunked body has no announced size and a server may lie.
            if response
                .content_length()
                .is_some_and(|length| length > limit as u64)
            {
                return Err(too_large());
            }
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| request_error(&url_text, &err, policy))?
            {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            return Ok((body, headers));
        }
    }
}

/// Locks one of the fetcher's maps. Each critical section is one lookup, insert or remove, so a
/// map behind a poisoned lock is still intact.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a key from the in-flight map when its download task ends, even by panic, so a
/// later call can start a new download instead of waiting forever.
struct InFlightGuard {
    inner: Arc<Inner>,
    key: CacheKey,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.inner.in_flight().remove(&self.key);
    }
}

/// The delay a `Retry-After` header asks for at `now`: delta-seconds or an HTTP date
/// (RFC 9110 §10.2.3). A date in the past means "now". Unparseable values are ignored.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn request_error(url: &str, err: &reqwest::Error, policy: &FetchPolicy) -> FetchError {
    if err.is_timeout() {
        FetchError::Timeout {
            url: url.into(),
            timeout: policy.timeout,
        }
    } else {
        FetchError::Request {
            url: url.into(),
            reason: root_cause(err),
        }
    }
}

/// The innermost error message: reqwest's own message only repeats the URL.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests;
