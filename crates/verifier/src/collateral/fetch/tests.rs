//! Fetcher behaviour against tiny servers on 127.0.0.1 started by each test (no network).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderValue, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A scripted HTTP server: answers requests with the queued responses in order (the last one
/// repeats) and counts the requests it received.
struct ScriptedServer {
    base: String,
    hits: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

#[derive(Clone)]
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: Vec<u8>,
}

fn answer(status: u16, body: &[u8]) -> Scripted {
    Scripted {
        status,
        retry_after: None,
        body: body.to_vec(),
    }
}

fn busy(status: u16, retry_after: Option<&'static str>) -> Scripted {
    Scripted {
        status,
        retry_after,
        body: Vec::new(),
    }
}

impl ScriptedServer {
    /// Starts a server whose handlers wait for [`ScriptedServer::release`] when `held`.
    async fn start(script: Vec<Scripted>, held: bool) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(!held);
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let counter = hits.clone();
        let app = Router::new().fallback(move || {
            let (hits, script, mut released) = (counter.clone(), script.clone(), released.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let _ = released.wait_for(|open| *open).await;
                let next = {
                    let mut script = script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front()
                    } else {
                        script.front().cloned()
                    }
                };
                let next = next.unwrap();
                let mut response: Response = next.body.into_response();
                *response.status_mut() = AxumStatus::from_u16(next.status).unwrap();
                if let Some(value) = next.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static(value));
                }
                response
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            hits,
            release,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A raw TCP server that answers every connection with `reply` (or never, when `None`).
async fn raw_server(reply: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            match &reply {
                Some(reply) => {
                    let _ = stream.write_all(reply).await;
                    let _ = stream.shutdown().await;
                }
                // Keep the connection open and silent.
                None => held.push(stream),
            }
        }
    });
    base
}

fn quick_policy() -> FetchPolicy {
    FetchPolicy {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_response_bytes: 1024,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(2),
        max_concurrent_downloads: 8,
        not_found_ttl: Duration::ZERO,
    }
}

fn fetcher(cache: CollateralCache, policy: FetchPolicy) -> Fetcher {
    Fetcher::new(Arc::new(cache), policy).unwrap()
}

fn key(text: &str) -> CacheKey {
    CacheKey::new(text).unwrap()
}

#[tokio::test]
async fn downloads_once_then_answers_from_the_persistent_cache() {
    let server = ScriptedServer::start(vec![answer(200, b"vcek-der")], false).await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/vcek/v1/Milan/00");

    let first = fetcher(CollateralCache::persistent(dir.path()), quick_policy());
    assert_eq!(
        &*first.fetch(&key("vcek/00/a.der"), &url).await.unwrap(),
        b"vcek-der"
    );
    assert_eq!(
        &*first.fetch(&key("vcek/00/a.der"), &url).await.unwrap(),
        b"vcek-der"
    );
    assert_eq!(server.hits(), 1);

    // A new process (new fetcher, same directory) does not ask the server again.
    let second = fetcher(CollateralCache::persistent(dir.path()), quick_policy());
    assert_eq!(
        &*second.fetch(&key("vcek/00/a.der"), &url).await.unwrap(),
        b"vcek-der"
    );
    assert_eq!(server.hits(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("vcek/00/a.der")).unwrap(),
        b"vcek-der"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_for_one_key_make_one_upstream_request() {
    const CALLERS: usize = 16;
    let server = ScriptedServer::start(vec![answer(200, b"cert")], true).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let url = server.url("/vcek");

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let (fetcher, url) = (fetcher.clone(), url.clone());
        callers.spawn(async move { fetcher.fetch(&key("k"), &url).await });
    }
    // Hold the first response until either every caller has reached the server (what happens
    // without coalescing) or a grace period has passed.
    let deadline = Instant::now() + Duration::from_millis(300);
    while server.hits() < CALLERS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.release.send(true).unwrap();
    while let Some(result) = callers.join_next().await {
        assert_eq!(&*result.unwrap().unwrap(), b"cert");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn concurrent_misses_share_one_failure_and_the_next_call_retries() {
    let server = ScriptedServer::start(vec![answer(404, b""), answer(200, b"ok")], true).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let url = server.url("/x");
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (fetcher, url) = (fetcher.clone(), url.clone());
        callers.spawn(async move { fetcher.fetch(&key("k"), &url).await });
    }
    while server.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.release.send(true).unwrap();
    while let Some(result) = callers.join_next().await {
        assert!(matches!(
            result.unwrap(),
            Err(FetchError::Status { status: 404, .. })
        ));
    }
    assert_eq!(server.hits(), 1);
    // Failures are not cached.
    assert_eq!(&*fetcher.fetch(&key("k"), &url).await.unwrap(), b"ok");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn rate_limit_waits_as_long_as_retry_after_asks_then_succeeds() {
    let server =
        ScriptedServer::start(vec![busy(429, Some("1")), answer(200, b"cert")], false).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let started = Instant::now();
    let body = fetcher.fetch(&key("k"), &server.url("/v")).await.unwrap();
    assert_eq!(&*body, b"cert");
    assert_eq!(server.hits(), 2);
    // The policy's own back-off is 1 ms: only honouring Retry-After explains a 1 s wait.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn service_unavailable_backs_off_and_gives_up_after_max_attempts() {
    let server = ScriptedServer::start(vec![busy(503, None)], false).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let url = server.url("/v");
    let err = fetcher.fetch(&key("k"), &url).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::RateLimited {
            url: url.clone(),
            status: 503,
            attempts: 3
        }
    );
    assert_eq!(server.hits(), 3);
    assert_eq!(
        err.to_string(),
        format!("collateral server still answered http 503 for {url} after 3 attempts")
    );
}

#[tokio::test]
async fn retry_after_beyond_the_longest_wait_fails_at_once() {
    let server = ScriptedServer::start(vec![busy(429, Some("3600"))], false).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let err = fetcher
        .fetch(&key("k"), &server.url("/v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RetryAfterTooLong { retry_after, .. } if retry_after == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn not_found_is_a_clear_error_and_is_not_cached() {
    let server = ScriptedServer::start(vec![answer(404, b"no such chip")], false).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(CollateralCache::persistent(dir.path()), quick_policy());
    let url = server.url("/vcek/v1/Milan/abcd");
    let err = fetcher.fetch(&key("vcek/abcd"), &url).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("collateral server answered http 404 for {url}")
    );
    assert_eq!(fetcher.cache().keys().await.unwrap(), vec![]);
}

#[tokio::test]
async fn oversized_response_with_content_length_is_refused() {
    let server = ScriptedServer::start(vec![answer(200, &[7u8; 2000])], false).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(CollateralCache::persistent(dir.path()), quick_policy());
    let url = server.url("/big");
    let err = fetcher.fetch(&key("big"), &url).await.unwrap_err();
    assert_eq!(err, FetchError::TooLarge { url, limit: 1024 });
    assert_eq!(fetcher.cache().keys().await.unwrap(), vec![]);
}

#[tokio::test]
async fn oversized_chunked_response_is_refused_while_streaming() {
    // No Content-Length: only counting the streamed bytes can catch this one.
    let chunk = format!("200\r\n{}\r\n", "_".repeat(0x200));
    let reply = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(3)
    );
    let base = raw_server(Some(reply.into_bytes())).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let err = fetcher
        .fetch(&key("big"), &format!("{base}/big"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn chunked_response_within_the_cap_is_accepted() {
    let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
        3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let base = raw_server(Some(reply.to_vec())).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let body = fetcher
        .fetch(&key("k"), &format!("{base}/k"))
        .await
        .unwrap();
    assert_eq!(&*body, b"abcde");
}

#[tokio::test]
async fn silent_server_times_out() {
    let base = raw_server(None).await;
    let policy = FetchPolicy {
        timeout: Duration::from_millis(200),
        ..quick_policy()
    };
    let fetcher = fetcher(CollateralCache::in_memory(), policy);
    let url = format!("{base}/slow");
    let started = Instant::now();
    let err = fetcher.fetch(&key("k"), &url).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Timeout {
            url: url.clone(),
            timeout: Duration::from_millis(200)
        }
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        err.to_string(),
        format!("fetching collateral from {url} timed out after 200ms")
    );
}

#[tokio::test]
async fn refused_connection_names_the_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let err = fetcher.fetch(&key("k"), &url).await.unwrap_err();
    let FetchError::Request {
        url: failed,
        reason,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(failed, &url);
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
}

#[tokio::test]
async fn invalid_url_is_refused_before_any_request() {
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let err = fetcher.fetch(&key("k"), "not a url").await.unwrap_err();
    assert_eq!(
        err,
        FetchError::InvalidUrl {
            url: "not a url".into()
        }
    );
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let header = |value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
        retry_after(&headers, now)
    };
    assert_eq!(header("7"), Some(Duration::from_secs(7)));
    assert_eq!(header(" 0 "), Some(Duration::ZERO));
    let in_ninety = httpdate::fmt_http_date(now + Duration::from_secs(90));
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_str(&in_ninety).unwrap());
    assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
    assert_eq!(
        header("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(header("soon"), None);
    assert_eq!(header("-5"), None);
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
}

#[tokio::test]
async fn body_failing_the_check_is_refused_and_not_cached() {
    let server = ScriptedServer::start(vec![answer(200, b"<html>busy</html>")], false).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(CollateralCache::persistent(dir.path()), quick_policy());
    let url = server.url("/vcek");
    let der = BodyCheck {
        expected: "a DER certificate",
        accepts: |body| body.first() == Some(&0x30),
    };
    let err = fetcher
        .fetch_checked(&key("k"), &url, der)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("collateral response from {url} is not a DER certificate")
    );
    assert_eq!(fetcher.cache().keys().await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_of_different_keys_are_capped() {
    const KEYS: usize = 6;
    let server = ScriptedServer::start(vec![answer(200, b"cert")], true).await;
    let policy = FetchPolicy {
        max_concurrent_downloads: 2,
        ..quick_policy()
    };
    let fetcher = fetcher(CollateralCache::in_memory(), policy);
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..KEYS {
        let (fetcher, url) = (fetcher.clone(), server.url(&format!("/chip/{n}")));
        callers.spawn(async move { fetcher.fetch(&key(&format!("chip{n}")), &url).await });
    }
    // Without the cap all six would reach the held server; give them time to try.
    let deadline = Instant::now() + Duration::from_millis(300);
    while server.hits() < KEYS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.hits(), 2);
    server.release.send(true).unwrap();
    while let Some(result) = callers.join_next().await {
        assert_eq!(&*result.unwrap().unwrap(), b"cert");
    }
    assert_eq!(server.hits(), KEYS);
}

#[tokio::test]
async fn not_found_is_remembered_for_its_ttl() {
    let server = ScriptedServer::start(vec![answer(404, b""), answer(200, b"cert")], false).await;
    let policy = FetchPolicy {
        not_found_ttl: Duration::from_secs(3600),
        ..quick_policy()
    };
    let fetcher = fetcher(CollateralCache::in_memory(), policy);
    let url = server.url("/made-up-chip");
    for _ in 0..3 {
        let err = fetcher.fetch(&key("k"), &url).await.unwrap_err();
        assert_eq!(
            err,
            FetchError::Status {
                url: url.clone(),
                status: 404
            }
        );
    }
    assert_eq!(server.hits(), 1);
    // Other keys are unaffected.
    assert_eq!(
        &*fetcher
            .fetch(&key("other"), &server.url("/real"))
            .await
            .unwrap(),
        b"cert"
    );
}

#[tokio::test]
async fn other_failures_are_not_remembered() {
    let server = ScriptedServer::start(vec![answer(500, b""), answer(200, b"cert")], false).await;
    let policy = FetchPolicy {
        not_found_ttl: Duration::from_secs(3600),
        ..quick_policy()
    };
    let fetcher = fetcher(CollateralCache::in_memory(), policy);
    let url = server.url("/x");
    assert!(matches!(
        fetcher.fetch(&key("k"), &url).await,
        Err(FetchError::Status { status: 500, .. })
    ));
    assert_eq!(&*fetcher.fetch(&key("k"), &url).await.unwrap(), b"cert");
}

/// Keeps the body with the value of the `x-chain` header, or refuses a response without it.
const WITH_CHAIN: ResponseShape = ResponseShape {
    expected: "a body with its chain",
    build: |body, headers| {
        let chain = headers.get("x-chain")?.to_str().ok()?;
        Some([chain.as_bytes(), b"|", body].concat())
    },
};

#[tokio::test]
async fn response_shapes_see_the_headers_and_stale_entries_are_downloaded_again() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let mut response: Response = format!("v{n}").into_response();
            response
                .headers_mut()
                .insert("x-chain", HeaderValue::from_static("chain"));
            response
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tcb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let always: Freshness = Arc::new(|_: &[u8]| true);
    let first = fetcher
        .fetch_response(&key("k"), &url, WITH_CHAIN, always.clone())
        .await
        .unwrap();
    assert_eq!(&*first, b"chain|v1");
    let cached = fetcher
        .fetch_response(&key("k"), &url, WITH_CHAIN, always)
        .await
        .unwrap();
    assert_eq!(&*cached, b"chain|v1");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // An entry the caller calls stale is replaced by a new download.
    let only_v2: Freshness = Arc::new(|entry: &[u8]| entry.ends_with(b"v2"));
    let renewed = fetcher
        .fetch_response(&key("k"), &url, WITH_CHAIN, only_v2.clone())
        .await
        .unwrap();
    assert_eq!(&*renewed, b"chain|v2");
    let kept = fetcher
        .fetch_response(&key("k"), &url, WITH_CHAIN, only_v2)
        .await
        .unwrap();
    assert_eq!(&*kept, b"chain|v2");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_response_its_shape_refuses_is_not_cached() {
    let server = ScriptedServer::start(vec![answer(200, b"no header")], false).await;
    let fetcher = fetcher(CollateralCache::in_memory(), quick_policy());
    let always: Freshness = Arc::new(|_: &[u8]| true);
    let err = fetcher
        .fetch_response(&key("k"), &server.url("/x"), WITH_CHAIN, always)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Unexpected {
            url: server.url("/x"),
            expected: "a body with its chain"
        }
    );
    assert_eq!(fetcher.cache().get(&key("k")).await.unwrap(), None);
}
