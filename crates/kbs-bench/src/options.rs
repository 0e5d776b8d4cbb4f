//! What to run: the scenario, the load shape and what a correct answer is.

use std::path::PathBuf;
use std::time::Duration;

use crate::BenchError;

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Each iteration is a full RCAR handshake: `POST /auth` then `POST /attest`.
    Attest,
    /// Each worker is a virtual guest that attests once; each iteration is one resource GET on
    /// that attested session (cookie).
    FetchCookie,
    /// Each worker attests once for a token; each iteration is one resource GET with
    /// `Authorization: Bearer <token>` and no cookie.
    FetchBearer,
    /// `concurrency` guests start at once; each does `/auth`, `/attest` and three resource GETs
    /// on its session. One iteration is one guest's whole boot.
    BootStorm,
    /// Each iteration opens a session (`/auth`, and `/attest` with `--attested`) and keeps
    /// nothing: used to measure the server's memory per live session.
    Sessions,
    /// Only store the secret and an allow-sample resource policy (admin API), then exit.
    Setup,
}

impl Scenario {
    /// Whether iterations read the resource and so need the expected secret.
    pub fn fetches(self) -> bool {
        matches!(
            self,
            Self::FetchCookie | Self::FetchBearer | Self::BootStorm
        )
    }
}

/// The TEE key type the virtual guests use (the server encrypts resources to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeeKeyType {
    /// EC P-256, `ECDH-ES+A256KW` (the guest default).
    #[default]
    EcP256,
    /// RSA 2048, `RSA-OAEP-256`.
    Rsa,
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// After this long.
    Duration(#[serde(serialize_with = "secs")] Duration),
    /// After this many iterations in total (across workers).
    Iterations(u64),
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Everything a run needs. Build with [`BenchOptions::new`] and struct update syntax.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// KBS root URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// PEM CA certificate(s) to trust for HTTPS; when set, only these are trusted.
    pub cacert_pem: Option<String>,
    /// The scenario.
    pub scenario: Scenario,
    /// Concurrent virtual guests (workers); for `boot-storm` the number of guests.
    pub concurrency: usize,
    /// When the measured phase ends (`boot-storm` ignores it: one storm).
    pub stop: Stop,
    /// Time spent running the scenario unrecorded before measuring (warms connections,
    /// caches and the allocator).
    pub warmup: Duration,
    /// TEE key type of the guests.
    pub tee_key: TeeKeyType,
    /// Resource path `<repository>/<type>/<tag>`.
    pub resource: String,
    /// The secret every GET must decrypt to; required by the fetching scenarios.
    pub expected_secret: Option<Vec<u8>>,
    /// `sessions`: also `/attest` each session.
    pub attested_sessions: bool,
    /// Admin private key (PEM). When set, the secret and an allow-sample resource policy are
    /// stored before the run (`setup`).
    pub admin_key: Option<PathBuf>,
    /// A server process whose resident memory is read (Linux `/proc/<pid>/status`) before and
    /// after the run.
    pub server_pid: Option<u32>,
}

impl BenchOptions {
    /// Defaults: concurrency 8, 10 s, 2 s warm-up, EC P-256, `default/bench/secret`.
    pub fn new(url: impl Into<String>, scenario: Scenario) -> Self {
        Self {
            url: url.into(),
            cacert_pem: None,
            scenario,
            concurrency: 8,
            stop: Stop::Duration(Duration::from_secs(10)),
            warmup: Duration::from_secs(2),
            tee_key: TeeKeyType::EcP256,
            resource: "default/bench/secret".to_owned(),
            expected_secret: None,
            attested_sessions: false,
            admin_key: None,
            server_pid: None,
        }
    }

    /// Checks the combination before anything is sent.
    pub fn validate(&self) -> Result<(), BenchError> {
        if self.concurrency == 0 {
            return Err(BenchError::Options(
                "concurrency must be at least 1".to_owned(),
            ));
        }
        if let Stop::Iterations(0) = self.stop {
            return Err(BenchError::Options(
                "requests must be at least 1".to_owned(),
            ));
        }
        if let Stop::Duration(d) = self.stop
            && d.is_zero()
        {
            return Err(BenchError::Options("duration must be positive".to_owned()));
        }
        let needs_secret = self.scenario.fetches() || self.scenario == Scenario::Setup;
        if needs_secret && self.expected_secret.is_none() {
            return Err(BenchError::Options(format!(
                "scenario {:?} needs the expected secret (--expect-file or --expect-b64)",
                self.scenario
            )));
        }
        if self.scenario == Scenario::Setup && self.admin_key.is_none() {
            return Err(BenchError::Options("setup needs --admin-key".to_owned()));
        }
        let segments: Vec<&str> = self.resource.split('/').collect();
        if segments.len() != 3 || segments.iter().any(|s| s.is_empty()) {
            return Err(BenchError::Options(format!(
                "resource {:?} must be <repository>/<type>/<tag>",
                self.resource
            )));
        }
        Ok(())
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, BenchError> {
    let text = text.trim();
    let bad = || BenchError::Options(format!("duration {text:?}: use e.g. 10s, 500ms, 2m"));
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "s", "-1s", "ten", "1h", "NaN"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fetching_scenarios_need_the_expected_secret() {
        let options = BenchOptions::new("http://127.0.0.1:1", Scenario::FetchBearer);
        assert!(matches!(options.validate(), Err(BenchError::Options(_))));
        let options = BenchOptions {
            expected_secret: Some(b"s".to_vec()),
            ..options
        };
        assert!(options.validate().is_ok());
        assert!(
            BenchOptions::new("http://127.0.0.1:1", Scenario::Attest)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn refuses_bad_resource_paths_and_zero_load() {
        for resource in ["a/b", "a//c", "a/b/c/d", ""] {
            let options = BenchOptions {
                resource: resource.to_owned(),
                ..BenchOptions::new("http://127.0.0.1:1", Scenario::Attest)
            };
            assert!(options.validate().is_err(), "{resource:?} accepted");
        }
        let options = BenchOptions {
            concurrency: 0,
            ..BenchOptions::new("http://127.0.0.1:1", Scenario::Attest)
        };
        assert!(options.validate().is_err());
        let options = BenchOptions {
            stop: Stop::Iterations(0),
            ..BenchOptions::new("http://127.0.0.1:1", Scenario::Attest)
        };
        assert!(options.validate().is_err());
    }
}
