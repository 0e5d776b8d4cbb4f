//! Micro-benchmarks of the JOSE work on the KBS request path: JWE encryption per key-management
//! algorithm (every resource GET), ES256 token signing (every `/attest`) and verification
//! (every resource GET), and RFC 8785 runtime-data hashing (every `/attest`).
//!
//! `cargo bench -p jose --bench jose`; see `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jose::jwt::{self, HeaderExtras};
use jose::{RsaAlg, SigningKey, TeeKeyPair};
use kbs_types::HashAlgorithm;
use serde_json::{Value, json};

/// A resource of the size a guest typically fetches (a disk key, a small credential).
const SECRET: &[u8] = &[0x5a; 64];

/// Claims shaped like an EAR token of the builtin AS for one `sample` CPU submodule, about the
/// size of the real ones (the token GETs carry).
fn ear_claims(tee_key: &TeeKeyPair, now: u64) -> Value {
    let tee_pubkey = serde_json::to_value(tee_key.public_key().unwrap()).unwrap();
    json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": now,
        "exp": now + 300,
        "ear.verifier-id": {"developer": "https://confidentialcontainers.org", "build": "0.1.0"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.trustworthiness-vector": {
                "instance-identity": 2, "configuration": 2, "executables": 3,
                "file-system": 0, "hardware": 2, "runtime-opaque": 0,
                "storage-opaque": 0, "sourced-data": 0
            },
            "ear.appraisal-policy-id": "default_cpu",
            "ear.veraison.annotated-evidence": {"sample": {
                "svn": "1",
                "report_data": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ",
                "init_data": "",
                "launch_digest": "abcde"
            }},
            "ear.veraison.policy-claims": {"executables": 3, "hardware": 2},
            "ear.veraison.key-attestation": {"akpub": "unused"}
        }},
        "customized_claims": {"runtime_data": {"tee-pubkey": tee_pubkey}, "init_data": null}
    })
}

fn jwe_encrypt(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwe_encrypt");
    let keys = [
        (
            "ECDH-ES+A256KW P-256",
            TeeKeyPair::generate_ec_p256().unwrap(),
        ),
        (
            "ECDH-ES+A256KW P-521",
            TeeKeyPair::generate_ec_p521().unwrap(),
        ),
        ("RSA-OAEP-256 2048", TeeKeyPair::generate_rsa(2048).unwrap()),
        (
            "RSA1_5 2048",
            TeeKeyPair::generate_rsa(2048)
                .unwrap()
                .with_rsa_alg(RsaAlg::Rsa1_5),
        ),
    ];
    for (name, key) in &keys {
        let public = key.public_key().unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| jose::jwe::encrypt(black_box(&public), black_box(SECRET)).unwrap())
        });
    }
    group.finish();

    // The guest's side of the same exchange (kbs-bench pays it for every GET it checks).
    let mut group = c.benchmark_group("jwe_decrypt");
    for (name, key) in &keys {
        let response = jose::jwe::encrypt(&key.public_key().unwrap(), SECRET).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| key.decrypt(black_box(&response)).unwrap())
        });
    }
    group.finish();
}

fn token_es256(c: &mut Criterion) {
    let signer = SigningKey::generate_es256().unwrap();
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(signer.public_jwk().unwrap()),
    };
    let tee_key = TeeKeyPair::generate_ec_p256().unwrap();
    let now = 1_800_000_000;
    let claims = ear_claims(&tee_key, now);
    let token = jwt::sign(&signer, &extras, &claims).unwrap();
    let verifier = signer.verifying_key();

    let mut group = c.benchmark_group("token_es256");
    group.bench_function("sign EAR", |b| {
        b.iter(|| jwt::sign(&signer, &extras, black_box(&claims)).unwrap())
    });
    group.bench_function("verify EAR", |b| {
        b.iter(|| jwt::verify(black_box(&token), &verifier, now).unwrap())
    });
    group.bench_function("decode header", |b| {
        b.iter(|| jwt::Header::decode(black_box(&token)).unwrap())
    });
    group.bench_function("VerifyingKey from header jwk", |b| {
        let jwk = extras.jwk.clone().unwrap();
        b.iter(|| jose::VerifyingKey::from_jwk(black_box(&jwk)).unwrap())
    });
    group.finish();
}

fn runtime_data(c: &mut Criterion) {
    let tee_key = TeeKeyPair::generate_ec_p256().unwrap();
    let tee_pubkey = serde_json::to_value(tee_key.public_key().unwrap()).unwrap();
    let value = json!({
        "additional-evidence": "",
        "nonce": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
        "tee-pubkey": tee_pubkey,
    });
    let mut group = c.benchmark_group("runtime_data");
    group.bench_function("canonicalize", |b| {
        b.iter(|| jose::jcs::canonicalize(black_box(&value)).unwrap())
    });
    group.bench_function("digest sha384", |b| {
        b.iter(|| jose::jcs::runtime_data_digest(black_box(&value), HashAlgorithm::Sha384).unwrap())
    });
    group.finish();
}

criterion_group!(benches, jwe_encrypt, token_es256, runtime_data);
criterion_main!(benches);
