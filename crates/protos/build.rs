//! Compiles `proto/*.proto` at the workspace root into Rust with `protox`
//! (a pure-Rust protobuf compiler) and tonic's prost generator: no `protoc`.
//!
//! `reference.proto` is generated with default server stubs: its
//! `DeleteReferenceValue` is our extension beyond upstream, and a server
//! written for upstream's two methods only (as test doubles of an upstream AS
//! are) keeps compiling and answers it `UNIMPLEMENTED`, as upstream does.
//! `attestation.proto` has no extension, so every method stays required.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    for (file, default_stubs) in [("attestation.proto", false), ("reference.proto", true)] {
        println!("cargo:rerun-if-changed={}", proto_dir.join(file).display());
        let fds = protox::compile([file], [&proto_dir])?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .build_transport(true)
            .generate_default_stubs(default_stubs)
            .compile_fds(fds)?;
    }
    Ok(())
}
