#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `rvps` and `rvps-tool` binaries as an operator runs them: a real `rvps` process on port 0
//! and `rvps-tool` invocations against it.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use protos::reference::reference_value_provider_service_server::{
    ReferenceValueProviderService, ReferenceValueProviderServiceServer,
};
use protos::reference::{
    ReferenceValueQueryRequest, ReferenceValueQueryResponse, ReferenceValueRegisterRequest,
    ReferenceValueRegisterResponse,
};
use serde_json::{Value, json};

const RVPS: &str = env!("CARGO_BIN_EXE_rvps");
const RVPS_TOOL: &str = env!("CARGO_BIN_EXE_rvps-tool");

/// A running `rvps`, killed on drop.
struct Rvps {
    child: Child,
    url: String,
}

impl Rvps {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(RVPS)
            .args(["-c".as_ref(), config.as_os_str()])
            .args(["-a", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("rvps listening on ") else {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("rvps did not start: stdout {line:?}, stderr {stderr}");
        };
        let url = format!("http://{addr}");
        Self { child, url }
    }

    /// Stops the process and returns what it logged.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        stderr
    }
}

impl Drop for Rvps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(args: &[&str]) -> Output {
    Command::new(RVPS_TOOL).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn sample_message(values: &Value) -> String {
    json!({"version": "0.1.0", "type": "sample", "payload": STANDARD.encode(values.to_string())})
        .to_string()
}

/// Writes a `sample` register message for `values` into `dir` and registers it through
/// `rvps-tool`, which must succeed.
fn tool_registers_sample(rvps: &Rvps, dir: &Path, values: &Value) {
    let message = write(dir, "message.json", &sample_message(values));
    let out = tool(&["register", "-p", message.to_str().unwrap(), "-a", &rvps.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// An `rvps` on LocalFs storage in `dir` holding `svn = ["1"]` and `launch_digest =
/// ["abcde"]`, registered through `rvps-tool`; returns its config (to restart it) and it.
fn start_with_svn_and_launch_digest(dir: &Path) -> (PathBuf, Rvps) {
    let config = local_fs_config(dir);
    let rvps = Rvps::start(&config);
    tool_registers_sample(
        &rvps,
        dir,
        &json!({"svn": ["1"], "launch_digest": ["abcde"]}),
    );
    (config, rvps)
}

/// `rvps-tool query -r ID -a URL` against `rvps`.
fn tool_query(rvps: &Rvps, id: &str) -> Output {
    tool(&["query", "-r", id, "-a", &rvps.url])
}

fn local_fs_config(dir: &Path) -> PathBuf {
    let storage = dir.join("storage");
    write(
        dir,
        "rvps.toml",
        &format!(
            "[storage]\nstorage_type = \"LocalFs\"\n[storage.backends.local_fs]\ndir_path = {:?}\n",
            storage.to_str().unwrap()
        ),
    )
}

#[test]
fn tool_registers_and_queries_through_a_real_rvps_that_keeps_values_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (config, rvps) = start_with_svn_and_launch_digest(dir.path());

    let out = tool_query(&rvps, "svn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "[\"1\"]\n");

    // Long flag names and an address without a scheme work too.
    let bare = rvps.url.trim_start_matches("http://").to_owned();
    let out = tool(&[
        "query",
        "--reference-value-id",
        "launch_digest",
        "--addr",
        &bare,
    ]);
    assert_eq!(text(&out.stdout), "[\"abcde\"]\n");
    rvps.stop();

    let rvps = Rvps::start(&config);
    let out = tool_query(&rvps, "svn");
    assert_eq!(text(&out.stdout), "[\"1\"]\n", "{}", text(&out.stderr));
}

#[test]
fn query_for_an_unknown_id_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let rvps = Rvps::start(&local_fs_config(dir.path()));
    let out = tool_query(&rvps, "nothing");
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(r#"reference value "nothing" not found"#),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rvps_does_not_serve_expired_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_fs_config(dir.path());
    let namespace = dir.path().join("storage/reference_value");
    std::fs::create_dir_all(&namespace).unwrap();
    write(
        &namespace,
        "old",
        r#"{"version":"0.1.0","name":"old","expiration":"2020-01-01T00:00:00Z","value":["1"]}"#,
    );
    write(
        &namespace,
        "fresh",
        r#"{"version":"0.1.0","name":"fresh","expiration":"2999-01-01T00:00:00Z","value":["2"]}"#,
    );
    let rvps = Rvps::start(&config);
    let out = tool_query(&rvps, "old");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let out = tool_query(&rvps, "fresh");
    assert_eq!(text(&out.stdout), "[\"2\"]\n");
}

#[test]
fn tool_deletes_exits_3_for_an_unknown_id_and_1_for_an_unusable_one() {
    let dir = tempfile::tempdir().unwrap();
    let (config, rvps) = start_with_svn_and_launch_digest(dir.path());

    let out = tool(&["delete", "-r", "svn", "-a", &rvps.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "reference value \"svn\" deleted\n");
    let out = tool_query(&rvps, "svn");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    // the record is gone from the storage, not hidden
    assert!(!dir.path().join("storage/reference_value/svn").exists());
    assert!(
        dir.path()
            .join("storage/reference_value/launch_digest")
            .is_file()
    );

    // unknown: the same exit code as query's
    let out = tool(&["delete", "--reference-value-id", "svn", "--addr", &rvps.url]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(r#"reference value "svn" not found"#),
        "{}",
        text(&out.stderr)
    );

    // an id that can never be stored is refused by the server, naming the rule
    let out = tool(&["delete", "-r", "a:b", "-a", &rvps.url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(r#"cannot delete reference value "a:b""#)
            && stderr.contains("refused the request (InvalidArgument)")
            && stderr.contains("character ':' is not allowed"),
        "{stderr}"
    );

    // the deletion survives a restart; the other value too
    rvps.stop();
    let rvps = Rvps::start(&config);
    let out = tool_query(&rvps, "svn");
    assert_eq!(out.status.code(), Some(3));
    let out = tool_query(&rvps, "launch_digest");
    assert_eq!(text(&out.stdout), "[\"abcde\"]\n");
}

/// An RVPS written against upstream's protocol: register and query only, so delete gets the
/// generated default, `UNIMPLEMENTED`.
struct UpstreamRvps;

#[tonic::async_trait]
impl ReferenceValueProviderService for UpstreamRvps {
    async fn query_reference_value(
        &self,
        _request: tonic::Request<ReferenceValueQueryRequest>,
    ) -> Result<tonic::Response<ReferenceValueQueryResponse>, tonic::Status> {
        Ok(tonic::Response::new(ReferenceValueQueryResponse {
            reference_value_results: Some(r#"["1"]"#.to_owned()),
        }))
    }
    async fn register_reference_value(
        &self,
        _request: tonic::Request<ReferenceValueRegisterRequest>,
    ) -> Result<tonic::Response<ReferenceValueRegisterResponse>, tonic::Status> {
        Ok(tonic::Response::new(ReferenceValueRegisterResponse {}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_delete_against_an_upstream_rvps_says_it_does_not_support_deletion() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ReferenceValueProviderServiceServer::new(UpstreamRvps))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let out = tokio::task::spawn_blocking(move || tool(&["delete", "-r", "svn", "-a", &url]))
        .await
        .unwrap();
    server.abort();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the rvps does not support delete")
            && stderr.contains("answered UNIMPLEMENTED"),
        "{stderr}"
    );
}

#[test]
fn tool_names_the_file_when_it_is_unreadable_or_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let rvps = Rvps::start(&local_fs_config(dir.path()));
    let missing = dir.path().join("missing.json");
    let not_json = write(dir.path(), "bad.json", "{\"type\": ");
    let not_object = write(dir.path(), "array.json", "[1]");
    for (path, expected) in [
        (&missing, "cannot read message file"),
        (&not_json, "is not JSON"),
        (&not_object, "is not a JSON object"),
    ] {
        let out = tool(&["register", "-p", path.to_str().unwrap(), "-a", &rvps.url]);
        assert_eq!(out.status.code(), Some(1), "{expected}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    }
}

#[test]
fn tool_reports_what_the_server_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rvps = Rvps::start(&local_fs_config(dir.path()));
    let message = write(
        dir.path(),
        "in-toto.json",
        r#"{"version":"0.1.0","type":"in-toto","payload":"oA=="}"#,
    );
    let out = tool(&["register", "-p", message.to_str().unwrap(), "-a", &rvps.url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refused the request (Aborted)")
            && stderr.contains("could not find extractor for in-toto"),
        "{stderr}"
    );
}

#[test]
fn tool_reports_a_server_that_is_down() {
    // Bind then drop, so nothing listens on the port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    for command in ["query", "delete"] {
        let out = tool(&[command, "-r", "svn", "-a", &url]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("rvps at {url} is unreachable")),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn tool_usage_errors_exit_2() {
    assert_eq!(tool(&["query"]).status.code(), Some(2));
    assert_eq!(tool(&["delete"]).status.code(), Some(2));
    assert_eq!(tool(&["remove", "-r", "svn"]).status.code(), Some(2));
    assert_eq!(tool(&[]).status.code(), Some(2));
}

#[test]
fn rvps_runs_with_defaults_when_the_config_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let rvps = Rvps::start(&dir.path().join("absent.json"));
    tool_registers_sample(&rvps, dir.path(), &json!({"svn": ["1"]}));
    let stderr = rvps.stop();
    assert!(
        stderr.contains("using the default rvps config (in-memory storage)"),
        "{stderr}"
    );
}

#[test]
fn rvps_refuses_a_config_that_is_there_but_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "rvps.json",
        r#"{"storage": {"storage_typ": "LocalFs"}}"#,
    );
    let out = Command::new(RVPS)
        .args(["-c", config.to_str().unwrap(), "-a", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("malformed rvps config") && stderr.contains("storage_typ"),
        "{stderr}"
    );
}

#[test]
fn rvps_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut rvps = Rvps::start(&local_fs_config(dir.path()));
    let killed = Command::new("kill")
        .args(["-TERM", &rvps.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = rvps.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
