//! `rvps` and `kbs` (builtin AS with `rvps_config.type = "GrpcRemote"`) as two processes on
//! loopback: while `rvps` is down, `/attest` answers 503 `ReferenceValueProviderUnavailable`
//! naming the RVPS (not a 401 attestation failure) and stores nothing; once `rvps` restarts on
//! its port, the same `kbs` process attests and releases the secret again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::KbsEnv;
use common::services::{Rvps, rvps_bin};
use kbs_client::policies;
use serde_json::json;

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"secret released while the rvps answers";
const RVPS_UNAVAILABLE: &str = "ReferenceValueProviderUnavailable";

/// Affirming only while reference value `svn` lists the sample TEE's svn.
const AS_POLICY: &str = r#"package policy
import rego.v1

default executables := 33
default hardware := 97

executables := 3 if input.sample.svn in query_reference_value("svn")

hardware := 2 if input.sample.svn in query_reference_value("svn")

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": 2,
	"file-system": 0,
	"instance-identity": 0,
	"runtime-opaque": 0,
	"storage-opaque": 0,
	"sourced-data": 0,
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_is_503_while_the_remote_rvps_is_down_and_works_once_it_restarts() {
    let env = KbsEnv::new();
    let mut rvps = Rvps::start(&rvps_bin(), env.dir.path());
    let rvps_addr = rvps.addr();

    // the builtin AS reads its reference values from that rvps
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let builtin = "[attestation_service]\ntype = \"coco_as_builtin\"\n";
    assert!(config.contains(builtin), "{config}");
    let remote = format!(
        "{builtin}\n[attestation_service.rvps_config]\ntype = \"GrpcRemote\"\naddress = \"{rvps_addr}\"\n"
    );
    std::fs::write(&env.config_path, config.replace(builtin, &remote)).unwrap();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    admin.set_resource(PATH, SECRET).await.unwrap();
    admin
        .set_resource_policy(policies::AFFIRMING)
        .await
        .unwrap();
    admin
        .set_attestation_policy("default_cpu", AS_POLICY)
        .await
        .unwrap();
    admin
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    assert_eq!(
        kbs.guest().get_resource(PATH).await.unwrap().as_slice(),
        SECRET,
        "kbs:\n{}\nrvps:\n{}",
        kbs.stderr(),
        rvps.log()
    );

    // rvps crashes: attestation is a 503 naming the rvps, and nothing is stored
    rvps.kill();
    let before = env.snapshot();
    let guest = kbs.guest();
    let err = guest.get_resource(PATH).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    let problem = err.problem().unwrap();
    assert_eq!(problem.variant(), Some(RVPS_UNAVAILABLE), "{err}");
    assert!(
        problem
            .detail
            .contains("the reference value provider is unavailable"),
        "{err}"
    );
    assert!(
        problem
            .detail
            .contains(&format!("rvps at http://{rvps_addr} is unreachable")),
        "{err}"
    );
    assert_eq!(env.snapshot(), before);

    // rvps restarts on its port: the same kbs process and the same client succeed again
    rvps.restart();
    assert_eq!(rvps.addr(), rvps_addr);
    assert_eq!(
        guest.get_resource(PATH).await.unwrap().as_slice(),
        SECRET,
        "kbs:\n{}\nrvps:\n{}",
        kbs.stderr(),
        rvps.log()
    );
}
