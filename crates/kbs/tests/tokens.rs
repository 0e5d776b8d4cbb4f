//! Attestation tokens presented with `Authorization: Bearer`: the KBS trusts the JWK set the
//! test wrote (`[attestation_token] trusted_jwk_sets`) and its own AS, nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Kbs, KbsEnv, RawResponse, ear_claims, now, raw, seed, sign_with_kid, unsigned_token};
use kbs_client::jose::{SigningKey, TeeKeyPair};
use kbs_client::kbs_types::Response;

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"token secret";

async fn get_with(kbs: &Kbs, token: &str) -> RawResponse {
    let bearer = format!("Bearer {token}");
    raw(
        kbs.addr,
        "GET",
        &format!("/kbs/v0/resource/{PATH}"),
        &[("Authorization", &bearer)],
        b"",
    )
    .await
}

fn assert_refused(answer: &RawResponse, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {}", answer.text());
    assert_eq!(
        answer.variant().as_deref(),
        Some("TokenVerifierError"),
        "{what}: {}",
        answer.text()
    );
}

struct Setup {
    env: KbsEnv,
    kbs: Kbs,
    tee_key: TeeKeyPair,
    pubkey: serde_json::Value,
}

async fn setup() -> Setup {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, SECRET).await;
    let tee_key = TeeKeyPair::generate_ec_p256().unwrap();
    let pubkey = serde_json::to_value(tee_key.public_key().unwrap()).unwrap();
    Setup {
        env,
        kbs,
        tee_key,
        pubkey,
    }
}

#[tokio::test]
async fn a_token_signed_by_a_trusted_jwk_set_key_is_accepted() {
    let s = setup().await;
    let token = sign_with_kid(&s.env.token_key, &ear_claims(&s.pubkey, now() + 300));
    let answer = get_with(&s.kbs, &token).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let jwe: Response = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(s.tee_key.decrypt(&jwe).unwrap().as_slice(), SECRET);
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let s = setup().await;
    let token = sign_with_kid(&s.env.token_key, &ear_claims(&s.pubkey, now() + 300));
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 0x01;
    let tampered = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_refused(&get_with(&s.kbs, &tampered).await, "flipped signature bit");
}

#[tokio::test]
async fn tampered_claims_are_refused() {
    let s = setup().await;
    let token = sign_with_kid(&s.env.token_key, &ear_claims(&s.pubkey, now() + 300));
    let parts: Vec<&str> = token.split('.').collect();
    // keep the signature, swap in claims binding the attacker's key
    let attacker = TeeKeyPair::generate_ec_p256().unwrap();
    let claims = ear_claims(
        &serde_json::to_value(attacker.public_key().unwrap()).unwrap(),
        now() + 300,
    );
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_refused(&get_with(&s.kbs, &forged).await, "swapped claims");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = setup().await;
    let token = unsigned_token(&ear_claims(&s.pubkey, now() + 300));
    assert_refused(&get_with(&s.kbs, &token).await, "alg none");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = setup().await;
    // beyond the 60 s leeway
    let token = sign_with_kid(&s.env.token_key, &ear_claims(&s.pubkey, now() - 600));
    assert_refused(&get_with(&s.kbs, &token).await, "expired");
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let s = setup().await;
    let stranger = SigningKey::generate_es256().unwrap();
    // same kid as the trusted key: only the signature can tell them apart
    let token = sign_with_kid(&stranger, &ear_claims(&s.pubkey, now() + 300));
    assert_refused(&get_with(&s.kbs, &token).await, "unknown key");
}

#[tokio::test]
async fn a_token_carrying_its_own_header_jwk_is_not_trusted() {
    let s = setup().await;
    let stranger = SigningKey::generate_es256().unwrap();
    let extras = kbs_client::jose::jwt::HeaderExtras {
        kid: None,
        jwk: Some(stranger.public_jwk().unwrap()),
    };
    let token =
        kbs_client::jose::jwt::sign(&stranger, &extras, &ear_claims(&s.pubkey, now() + 300))
            .unwrap();
    assert_refused(&get_with(&s.kbs, &token).await, "self-endorsed header jwk");
}

#[tokio::test]
async fn a_malformed_bearer_is_refused() {
    let s = setup().await;
    for junk in ["", "not-a-jwt", "a.b.c", "....", "eyJ9.eyJ9.AA"] {
        let answer = get_with(&s.kbs, junk).await;
        assert_eq!(answer.status, 401, "{junk:?}: {}", answer.text());
        assert!(
            matches!(
                answer.variant().as_deref(),
                Some("TokenVerifierError" | "TokenNotFound")
            ),
            "{junk:?}: {}",
            answer.text()
        );
    }
}
