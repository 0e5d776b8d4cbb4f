//! The other workspace services as processes next to the `kbs` binary: any service that prints
//! `<name> listening on <ip:port>` ([`Service`]), and `rvps` with LocalFs storage that survives
//! a kill and a restart on the same port ([`Rvps`]). Each process's stderr goes to a
//! `*.stderr.log` file in the test's directory (left out of [`super::KbsEnv::snapshot`]) so
//! failure messages can quote it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{KillOnDrop, wait_for_stdout, workspace_bins};

/// The `rvps` binary of this build (see [`workspace_bins`]).
pub fn rvps_bin() -> PathBuf {
    workspace_bins(&["rvps"], &["rvps"]).remove(0)
}

/// A service process that prints `<name> listening on <ip:port>`; killed on drop.
pub struct Service {
    child: KillOnDrop,
    /// The address it printed.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Service {
    /// Starts `bin args` (`RUST_LOG=info`, stderr to `log`) and waits for its listening line;
    /// panics with the log when it exits or stays silent instead.
    pub fn start(bin: &Path, args: &[&str], name: &str, log: PathBuf) -> Self {
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        let prefix = format!("{name} listening on ");
        let mut addr = None;
        let ready = wait_for_stdout(&mut child, |line| {
            addr = line
                .strip_prefix(&prefix)
                .map(|a| a.trim().parse().unwrap());
            addr.is_some()
        });
        match (ready, addr) {
            (Ok(()), Some(addr)) => Self {
                child: KillOnDrop(child),
                addr,
                log,
            },
            _ => panic!(
                "{name} did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, as a crashed service.
    pub fn kill(mut self) {
        self.child.kill();
    }

    /// Sends `signal` (as `kill` takes it, e.g. `-STOP`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// Its stderr so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// An `rvps` process with LocalFs storage in `<dir>/rvps-storage`, kept across a kill and a
/// restart on the same address; start `n` logs to `<dir>/rvps-<n>.stderr.log`.
pub struct Rvps {
    bin: PathBuf,
    dir: PathBuf,
    config: String,
    addr: SocketAddr,
    starts: u32,
    running: Option<Service>,
}

impl Rvps {
    /// Writes `<dir>/rvps.json` and starts `rvps` on a free loopback port.
    pub fn start(bin: &Path, dir: &Path) -> Self {
        let config = dir.join("rvps.json");
        let storage = json!({"storage": {"storage_type": "LocalFs",
            "backends": {"local_fs": {"dir_path": dir.join("rvps-storage")}}}});
        std::fs::write(&config, storage.to_string()).unwrap();
        let mut rvps = Self {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            config: config.to_str().unwrap().to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            starts: 0,
            running: None,
        };
        rvps.spawn();
        rvps
    }

    /// The address it listens on (the same after [`Rvps::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its LocalFs storage directory (records under `reference_value/<name>`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.join("rvps-storage")
    }

    /// SIGKILL, as a crashed service; the storage stays.
    pub fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }

    /// Starts it again on the address it had, over the same storage.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "rvps is still running");
        self.spawn();
    }

    /// The stderr of its latest start (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("rvps-{}.stderr.log", self.starts))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let addr = self.addr.to_string();
        let service = Service::start(
            &self.bin,
            &["-c", &self.config, "-a", &addr],
            "rvps",
            self.log_path(),
        );
        self.addr = service.addr;
        self.running = Some(service);
    }
}

/// The attestation-service crate's token-signer fixtures (test-only keys, valid until 2126).
pub const AS_SIGNER_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../attestation-service/testdata/signer"
);

/// The `attestation_token_broker` of a `grpc-as` config that signs tokens with the
/// [`AS_SIGNER_DIR`] key and puts its chain (leaf + root) in `x5c`.
pub fn as_token_broker() -> Value {
    let signer = Path::new(AS_SIGNER_DIR);
    json!({"signer": {
        "key_path": signer.join("token-key-pkcs8.pem"),
        "cert_path": signer.join("token-chain.pem"),
    }})
}

/// Writes the last certificate of the signer chain, the root a KBS trusts for the AS's
/// tokens, to `<dir>/as-root.pem`; its path.
pub fn as_signer_root(dir: &Path) -> PathBuf {
    let chain = std::fs::read_to_string(Path::new(AS_SIGNER_DIR).join("token-chain.pem")).unwrap();
    let start = chain.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    let path = dir.join("as-root.pem");
    std::fs::write(&path, &chain[start..]).unwrap();
    path
}

/// The `[attestation_token]` and `[attestation_service]` sections (for
/// [`super::KbsEnv::config_with`]) of a KBS that is a gRPC client (`coco_as_grpc`) of the AS
/// at `as_url` and trusts the tokens signed under `trusted_root`; `options` are further lines
/// of the `[attestation_service]` table (`as_ca_cert`, `pool_size`, `request_timeout_secs`).
pub fn grpc_as_sections(as_url: &str, options: &str, trusted_root: &Path) -> (String, String) {
    (
        format!("[attestation_token]\ntrusted_certs_paths = [{trusted_root:?}]\n"),
        format!(
            "[attestation_service]\ntype = \"coco_as_grpc\"\nas_addr = \"{as_url}\"\n{options}"
        ),
    )
}
