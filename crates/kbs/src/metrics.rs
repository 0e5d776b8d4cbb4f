//! Prometheus metrics with the upstream names and labels (spec §14), exported at `/metrics`.
//!
//! Counters are registered without their `_total` suffix: the exposition format adds it.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of `kbs_http_request_duration_seconds` (spec §14).
const DURATION_BUCKETS: [f64; 7] = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.5, 1.0];
/// Buckets of the request/response size histograms (spec §14).
const SIZE_BUCKETS: [f64; 5] = [32.0, 128.0, 512.0, 2048.0, 8192.0];

/// Labels of `kbs_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    git_hash: String,
    build_date: String,
}

/// Label `resource_path` of the resource counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource_path: String,
}

/// Label `tee_type` of the attestation verdict counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeeLabels {
    tee_type: String,
}

/// Label `plugin_name` of the plugin counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin_name: String,
}

/// Every metric the KBS exports. Cheap to share: clone the [`Arc`] returned by [`Metrics::new`].
pub struct Metrics {
    registry: Registry,
    build_info: Family<BuildLabels, Gauge>,
    http_requests: Counter,
    http_request_duration: Histogram,
    http_request_size: Histogram,
    http_active_connections: Gauge,
    resource_reads: Family<ResourceLabels, Counter>,
    resource_writes: Family<ResourceLabels, Counter>,
    resource_deletes: Family<ResourceLabels, Counter>,
    policy_evaluations: Counter,
    policy_approvals: Counter,
    policy_violations: Counter,
    policy_errors: Counter,
    attestation_requests: Counter,
    attestation_errors: Counter,
    attestation_successes: Family<TeeLabels, Counter>,
    attestation_failures: Family<TeeLabels, Counter>,
    auth_requests: Counter,
    auth_successes: Counter,
    auth_errors: Counter,
    plugin_requests: Family<PluginLabels, Counter>,
    plugin_errors: Family<PluginLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Failure to render the exposition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("prometheus encoding failed")]
pub struct EncodeError;

impl Metrics {
    /// Registers every metric; `kbs_build_info` is set to 1 right away.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "kbs_build_info",
            "KBS build information",
            build_info.clone(),
        );

        let http_requests = Counter::default();
        registry.register(
            "kbs_http_requests",
            "Number of /kbs HTTP requests",
            http_requests.clone(),
        );
        let http_request_duration = Histogram::new(DURATION_BUCKETS);
        registry.register(
            "kbs_http_request_duration_seconds",
            "Duration of /kbs HTTP requests",
            http_request_duration.clone(),
        );
        let http_request_size = Histogram::new(SIZE_BUCKETS);
        registry.register(
            "kbs_http_request_size_bytes",
            "Content-Length of /kbs HTTP requests",
            http_request_size.clone(),
        );
        // Registered for name compatibility; upstream never feeds it either.
        registry.register(
            "kbs_http_response_size_bytes",
            "Size of /kbs HTTP responses",
            Histogram::new(SIZE_BUCKETS),
        );
        let http_active_connections = Gauge::default();
        registry.register(
            "kbs_http_active_connections",
            "In-flight /kbs HTTP requests",
            http_active_connections.clone(),
        );

        let resource_reads = Family::default();
        registry.register(
            "kbs_resource_reads",
            "Resource reads",
            resource_reads.clone(),
        );
        let resource_writes = Family::default();
        registry.register(
            "kbs_resource_writes",
            "Resource writes",
            resource_writes.clone(),
        );
        let resource_deletes = Family::default();
        registry.register(
            "kbs_resource_deletes",
            "Resource deletions",
            resource_deletes.clone(),
        );

        let policy_evaluations = Counter::default();
        registry.register(
            "kbs_policy_evaluations",
            "Resource policy evaluations",
            policy_evaluations.clone(),
        );
        let policy_approvals = Counter::default();
        registry.register(
            "kbs_policy_approvals",
            "Resource policy approvals",
            policy_approvals.clone(),
        );
        let policy_violations = Counter::default();
        registry.register(
            "kbs_policy_violations",
            "Resource policy denials",
            policy_violations.clone(),
        );
        let policy_errors = Counter::default();
        registry.register(
            "kbs_policy_errors",
            "Resource policy errors",
            policy_errors.clone(),
        );

        let attestation_requests = Counter::default();
        registry.register(
            "kbs_attestation_requests",
            "Number of /attest requests",
            attestation_requests.clone(),
        );
        let attestation_errors = Counter::default();
        registry.register(
            "kbs_attestation_errors",
            "/attest requests refused before verification",
            attestation_errors.clone(),
        );
        let attestation_successes = Family::default();
        registry.register(
            "kbs_attestation_successes",
            "Successful attestations",
            attestation_successes.clone(),
        );
        let attestation_failures = Family::default();
        registry.register(
            "kbs_attestation_failures",
            "Failed attestations",
            attestation_failures.clone(),
        );

        let auth_requests = Counter::default();
        registry.register(
            "kbs_auth_requests",
            "Number of /auth requests",
            auth_requests.clone(),
        );
        let auth_successes = Counter::default();
        registry.register(
            "kbs_auth_successes",
            "Successful /auth requests",
            auth_successes.clone(),
        );
        let auth_errors = Counter::default();
        registry.register(
            "kbs_auth_errors",
            "Failed /auth requests",
            auth_errors.clone(),
        );

        let plugin_requests = Family::default();
        registry.register(
            "kbs_plugin_requests",
            "Plugin requests",
            plugin_requests.clone(),
        );
        let plugin_errors = Family::default();
        registry.register("kbs_plugin_errors", "Plugin errors", plugin_errors.clone());

        let metrics = Self {
            registry,
            build_info,
            http_requests,
            http_request_duration,
            http_request_size,
            http_active_connections,
            resource_reads,
            resource_writes,
            resource_deletes,
            policy_evaluations,
            policy_approvals,
            policy_violations,
            policy_errors,
            attestation_requests,
            attestation_errors,
            attestation_successes,
            attestation_failures,
            auth_requests,
            auth_successes,
            auth_errors,
            plugin_requests,
            plugin_errors,
        };
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                git_hash: option_env!("KBS_GIT_HASH").unwrap_or("unknown").to_owned(),
                build_date: option_env!("KBS_BUILD_DATE")
                    .unwrap_or("unknown")
                    .to_owned(),
            })
            .set(1);
        Arc::new(metrics)
    }

    /// The Prometheus/OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, EncodeError> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|_| EncodeError)?;
        Ok(out)
    }

    /// A `/kbs…` request started; the guard records its duration and ends it when dropped.
    pub fn http_request_started(self: &Arc<Self>, content_length: u64) -> HttpRequestGuard {
        self.http_requests.inc();
        // Precision loss above 2^53 bytes is irrelevant for a histogram bucket.
        self.http_request_size.observe(content_length as f64);
        self.http_active_connections.inc();
        HttpRequestGuard {
            metrics: self.clone(),
            started: std::time::Instant::now(),
        }
    }

    /// A resource was read through the resource plugin.
    pub fn resource_read(&self, resource_path: &str) {
        self.resource_reads
            .get_or_create(&resource_labels(resource_path))
            .inc();
    }

    /// A resource was written through the resource plugin.
    pub fn resource_written(&self, resource_path: &str) {
        self.resource_writes
            .get_or_create(&resource_labels(resource_path))
            .inc();
    }

    /// A resource was deleted through the resource plugin.
    pub fn resource_deleted(&self, resource_path: &str) {
        self.resource_deletes
            .get_or_create(&resource_labels(resource_path))
            .inc();
    }

    /// The resource policy was evaluated with this outcome.
    pub fn policy_evaluated(&self, outcome: PolicyOutcome) {
        self.policy_evaluations.inc();
        match outcome {
            PolicyOutcome::Allowed => self.policy_approvals.inc(),
            PolicyOutcome::Denied => self.policy_violations.inc(),
            PolicyOutcome::Error => self.policy_errors.inc(),
        };
    }

    /// An `/auth` request arrived.
    pub fn auth_requested(&self) {
        self.auth_requests.inc();
    }

    /// An `/auth` request ended, successfully or not.
    pub fn auth_finished(&self, success: bool) {
        if success {
            self.auth_successes.inc();
        } else {
            self.auth_errors.inc();
        }
    }

    /// An `/attest` request arrived.
    pub fn attestation_requested(&self) {
        self.attestation_requests.inc();
    }

    /// An `/attest` request was refused before reaching the verifier (cookie, session, body).
    pub fn attestation_refused(&self) {
        self.attestation_errors.inc();
    }

    /// The attestation backend gave its verdict for evidence of `tee_type` (wire name).
    pub fn attestation_verdict(&self, tee_type: &str, success: bool) {
        let labels = TeeLabels {
            tee_type: tee_type.to_owned(),
        };
        if success {
            self.attestation_successes.get_or_create(&labels).inc();
        } else {
            self.attestation_failures.get_or_create(&labels).inc();
        }
    }

    /// A plugin served a request, successfully or not.
    pub fn plugin_request(&self, plugin_name: &str, success: bool) {
        let labels = PluginLabels {
            plugin_name: plugin_name.to_owned(),
        };
        self.plugin_requests.get_or_create(&labels).inc();
        if !success {
            self.plugin_errors.get_or_create(&labels).inc();
        }
    }
}

fn resource_labels(resource_path: &str) -> ResourceLabels {
    ResourceLabels {
        resource_path: resource_path.to_owned(),
    }
}

/// Outcome of a resource policy evaluation, for the `kbs_policy_*` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// The policy allowed the request.
    Allowed,
    /// The policy denied the request.
    Denied,
    /// The policy could not be evaluated.
    Error,
}

/// Ends an in-flight request's accounting when dropped (also when the handler is cancelled).
#[derive(Debug)]
pub struct HttpRequestGuard {
    metrics: Arc<Metrics>,
    started: std::time::Instant,
}

impl Drop for HttpRequestGuard {
    fn drop(&mut self) {
        self.metrics.http_active_connections.dec();
        self.metrics
            .http_request_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_upstream_names_and_labels() {
        let m = Metrics::new();
        {
            let _guard = m.http_request_started(100);
        }
        m.resource_read("a/b/c");
        m.resource_written("a/b/c");
        m.resource_deleted("a/b/c");
        m.policy_evaluated(PolicyOutcome::Denied);
        m.attestation_verdict("sample", true);
        m.attestation_verdict("tdx", false);
        m.auth_requested();
        m.auth_finished(true);
        m.plugin_request("echo-test", false);
        let text = m.encode().unwrap();
        for needle in [
            "kbs_build_info{version=\"",
            "kbs_http_requests_total 1",
            "kbs_http_request_duration_seconds_count 1",
            "kbs_http_request_size_bytes_bucket{le=\"128.0\"} 1",
            "kbs_http_response_size_bytes_count 0",
            "kbs_http_active_connections 0",
            "kbs_resource_reads_total{resource_path=\"a/b/c\"} 1",
            "kbs_resource_writes_total{resource_path=\"a/b/c\"} 1",
            "kbs_resource_deletes_total{resource_path=\"a/b/c\"} 1",
            "kbs_policy_evaluations_total 1",
            "kbs_policy_violations_total 1",
            "kbs_policy_approvals_total 0",
            "kbs_policy_errors_total 0",
            "kbs_attestation_successes_total{tee_type=\"sample\"} 1",
            "kbs_attestation_failures_total{tee_type=\"tdx\"} 1",
            "kbs_attestation_requests_total 0",
            "kbs_attestation_errors_total 0",
            "kbs_auth_requests_total 1",
            "kbs_auth_successes_total 1",
            "kbs_auth_errors_total 0",
            "kbs_plugin_requests_total{plugin_name=\"echo-test\"} 1",
            "kbs_plugin_errors_total{plugin_name=\"echo-test\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn active_connections_track_in_flight_requests() {
        let m = Metrics::new();
        let guard = m.http_request_started(0);
        assert!(
            m.encode()
                .unwrap()
                .contains("kbs_http_active_connections 1")
        );
        drop(guard);
        assert!(
            m.encode()
                .unwrap()
                .contains("kbs_http_active_connections 0")
        );
    }
}
