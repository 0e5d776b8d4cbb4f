//! Compiles `proto/*.proto` at the workspace root into Rust with `protox`
//! (a pure-Rust protobuf compiler) and tonic's prost generator: no `protoc`.
//!
//! Both files are generated with default server stubs: `reference.proto`'s
//! `DeleteReferenceValue` and `attestation.proto`'s `GetAttestationPolicy`,
//! `ListAttestationPolicies` and `DeleteAttestationPolicy` are our extensions
//! beyond upstream, and a server written for upstream's methods only (as test
//! doubles of an upstream AS are) keeps compiling and answers them
//! `UNIMPLEMENTED`, as upstream does. The stubs cover every method, so a
//! server of ours must be checked by its tests to implement what it serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    for file in ["attestation.proto", "reference.proto"] {
        println!("cargo:rerun-if-changed={}", proto_dir.join(file).display());
        let fds = protox::compile([file], [&proto_dir])?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .build_transport(true)
            .generate_default_stubs(true)
            .compile_fds(fds)?;
    }
    Ok(())
}
