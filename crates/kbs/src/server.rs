//! Listeners: every configured socket is bound, served over plain HTTP or HTTPS (rustls), and
//! shut down gracefully (in-flight requests finish) when the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// A slow or silent client gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may run after shutdown was requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Listener failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A socket could not be bound.
    #[error("cannot bind {addr}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("cannot read the bound address")]
    LocalAddr(#[source] std::io::Error),
    /// A listener task failed.
    #[error("listener task failed")]
    Join(#[from] tokio::task::JoinError),
    /// Plain HTTP serving failed.
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// Bound, not yet serving, sockets.
#[derive(Debug)]
pub struct BoundListeners {
    listeners: Vec<(TcpListener, SocketAddr)>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl BoundListeners {
    /// Binds every address; `tls` selects HTTPS.
    pub async fn bind(
        addrs: &[SocketAddr],
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Self, ServerError> {
        let mut listeners = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(ServerError::LocalAddr)?;
            listeners.push((listener, local));
        }
        Ok(Self { listeners, tls })
    }

    /// `http://IP:PORT` / `https://IP:PORT` of every bound socket (the real port when 0 was
    /// asked for).
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.listeners
            .iter()
            .map(|(_, addr)| format!("{scheme}://{addr}"))
            .collect()
    }

    /// Serves `router` on every socket until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, addr) in self.listeners {
            let router = router.clone();
            let stop = stop_rx.clone();
            match &self.tls {
                None => {
                    tasks.spawn(async move {
                        axum::serve(listener, router)
                            .with_graceful_shutdown(stopped(stop))
                            .await
                            .map_err(ServerError::Serve)
                    });
                }
                Some(config) => {
                    let acceptor = TlsAcceptor::from(config.clone());
                    tasks.spawn(serve_tls(listener, addr, router, acceptor, stop));
                }
            }
        }
        let drained = async {
            while let Some(result) = tasks.join_next().await {
                result??;
            }
            Ok::<(), ServerError>(())
        };
        tokio::pin!(drained);
        tokio::select! {
            // Every listener ended on its own (an error).
            result = &mut drained => return result,
            () = shutdown => {}
        }
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = stop_tx.send(true);
        // A request that never ends must not keep the process alive forever.
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut drained).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("in-flight requests did not finish in time; closing them");
                Ok(())
            }
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn serve_tls(
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    acceptor: TlsAcceptor,
    stop: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    let stop_signal = stopped(stop);
    tokio::pin!(stop_signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop_signal => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(%addr, "in-flight HTTPS requests did not finish in time");
    }
    Ok(())
}

/// The size of the runtime's blocking pool for `workers` worker threads, when up to
/// `evaluation_slots` appraisal-policy evaluations may hold a blocking thread at once.
///
/// Blocking work in the KBS is short: policy evaluations (bounded by the AS, see
/// [`attestation_service::policy_evaluation_slots`]) and the storage reads they and the
/// handlers make. The pool holds every evaluation slot plus a few threads per core for the
/// reads, so an evaluation waiting on a read never waits for a thread. Tokio's default of 512
/// let a 1000-guest boot storm start about 150 threads, each with its own allocator arena, and
/// the memory they kept raised the resident set by tens of MiB for the life of the process.
pub fn blocking_threads(workers: usize, evaluation_slots: usize) -> usize {
    workers
        .saturating_mul(4)
        .max(8)
        .saturating_add(evaluation_slots)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use axum::routing::get;

    use super::*;
    use crate::tls::{TlsKnobs, TlsProfile, TlsSettings};

    fn testdata(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name)
    }

    fn tls_config(profile: TlsProfile) -> Arc<rustls::ServerConfig> {
        let settings = TlsSettings::resolve(&TlsKnobs {
            profile,
            ..TlsKnobs::default()
        })
        .unwrap();
        settings
            .server_config(&testdata("server.key"), &testdata("server.crt"))
            .unwrap()
    }

    fn client(max: Option<reqwest::tls::Version>) -> reqwest::Client {
        let pem = std::fs::read(testdata("ca.crt")).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()]);
        if let Some(max) = max {
            builder = builder.tls_version_max(max);
        }
        builder.build().unwrap()
    }

    async fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> (
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), ServerError>>,
    ) {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listeners = BoundListeners::bind(&[addr], tls).await.unwrap();
        let url = listeners.urls().remove(0);
        let router = Router::new().route("/healthz", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(listeners.serve(router, async move {
            let _ = stopped.await;
        }));
        (url, stop, task)
    }

    #[tokio::test]
    async fn urls_report_the_real_port() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listeners = BoundListeners::bind(&[addr, addr], None).await.unwrap();
        let urls = listeners.urls();
        assert_eq!(urls.len(), 2);
        for url in urls {
            assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            assert!(!url.ends_with(":0"), "{url}");
        }
    }

    #[tokio::test]
    async fn serves_https_and_stops_on_shutdown() {
        let (url, stop, task) = start(Some(tls_config(TlsProfile::Intermediate))).await;
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        let response = client(None)
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn modern_profile_refuses_tls12_clients() {
        let (url, stop, task) = start(Some(tls_config(TlsProfile::Modern))).await;
        let tls12 = client(Some(reqwest::tls::Version::TLS_1_2));
        assert!(tls12.get(format!("{url}/healthz")).send().await.is_err());
        let response = client(None)
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn serves_plain_http_and_stops_on_shutdown() {
        let (url, stop, task) = start(None).await;
        let response = reqwest::get(format!("{url}/healthz")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn blocking_pool_is_a_few_threads_per_core_above_the_evaluation_slots() {
        assert_eq!(blocking_threads(1, 4), 12);
        assert_eq!(blocking_threads(2, 4), 12);
        assert_eq!(blocking_threads(16, 32), 96);
        assert_eq!(blocking_threads(usize::MAX, 4), usize::MAX);
    }

    #[test]
    fn missing_key_file_is_a_clear_error() {
        let settings = TlsSettings::resolve(&TlsKnobs::default()).unwrap();
        let err = settings
            .server_config(&testdata("nope.key"), &testdata("server.crt"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("private key") && err.contains("nope.key"),
            "{err}"
        );
    }
}
