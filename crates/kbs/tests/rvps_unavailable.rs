//! `rvps` and `kbs` (builtin AS with `rvps_config.type = "GrpcRemote"`) as two processes on
//! loopback: while `rvps` is down, `/attest` answers 503 `ReferenceValueProviderUnavailable`
//! naming the RVPS (not a 401 attestation failure) and stores nothing; once `rvps` restarts on
//! its port, the same `kbs` process attests and releases the secret again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::services::{Rvps, rvps_bin};
use common::{BUILTIN_AS, KbsEnv, set_svn, store_svn_gated_secret};

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"secret released while the rvps answers";
const RVPS_UNAVAILABLE: &str = "ReferenceValueProviderUnavailable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_is_503_while_the_remote_rvps_is_down_and_works_once_it_restarts() {
    let env = KbsEnv::new();
    let mut rvps = Rvps::start(&rvps_bin(), env.dir.path());
    let rvps_addr = rvps.addr();

    // the builtin AS reads its reference values from that rvps
    let remote = format!(
        "{BUILTIN_AS}\n[attestation_service.rvps_config]\ntype = \"GrpcRemote\"\naddress = \"{rvps_addr}\"\n"
    );
    env.write_config(&env.trusted_jwks_section(), &remote);
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    store_svn_gated_secret(&admin, PATH, SECRET).await.unwrap();
    set_svn(&admin, &["1"]).await;
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
