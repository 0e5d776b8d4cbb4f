use std::path::Path;

use jose::SigningKey;
use jose::jwt::{self, HeaderExtras};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_800_000_000;
const URI: &str = "/kbs/v0/resource-policy";

fn claims(iss: &str, aud: Value, role: &str) -> Value {
    json!({ "iss": iss, "aud": aud, "role": role, "iat": NOW - 10, "exp": NOW + 3600 })
}

fn token(key: &SigningKey, claims: &Value) -> String {
    jwt::sign(key, &HeaderExtras::default(), claims).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn provider(
    issuer: Option<&str>,
    audience: Option<&str>,
    pem_path: &str,
) -> IdentityProviderConfig {
    IdentityProviderConfig {
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
        public_key_uri: Some(pem_path.to_owned()),
        jwk_set_uri: None,
    }
}

fn authenticated(providers: Vec<IdentityProviderConfig>, acls: &[(&str, &str)]) -> AdminConfig {
    AdminConfig::AuthenticatedAuthorization {
        authentication: AuthenticationConfig {
            bearer_jwt: BearerJwtConfig {
                identity_providers: providers,
            },
        },
        authorization: AuthorizationConfig {
            regex_acl: RegexAclConfig {
                acls: acls
                    .iter()
                    .map(|(role, regex)| AclEntryConfig {
                        role: (*role).to_owned(),
                        allowed_endpoints: (*regex).to_owned(),
                    })
                    .collect(),
            },
        },
    }
}

/// Upstream's integration-test setup: one Ed25519 PEM provider with issuer and audience, ACL
/// role `tester` on everything under `/kbs/v0/`.
struct Fixture {
    _dir: tempfile::TempDir,
    key: SigningKey,
    auth: AdminAuth,
}

async fn fixture(acls: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_ed25519().unwrap();
    let pem = write(dir.path(), "admin.pem", &key.public_key_pem().unwrap());
    let config = authenticated(vec![provider(Some("issuer"), Some("kbs"), &pem)], acls);
    let auth = AdminAuth::new(&config).await.unwrap();
    Fixture {
        _dir: dir,
        key,
        auth,
    }
}

async fn simple() -> Fixture {
    fixture(&[("tester", "^/kbs/v0/.*$")]).await
}

#[tokio::test]
async fn accepts_token_signed_by_the_configured_key() {
    let f = simple().await;
    let t = token(&f.key, &claims("issuer", json!(["kbs"]), "tester"));
    let identity = f.auth.check(Some(&bearer(&t)), URI, NOW).unwrap();
    assert_eq!(
        identity,
        AdminIdentity::Authenticated {
            role: "tester".to_owned(),
            issuer: Some("issuer".to_owned())
        }
    );
}

#[tokio::test]
async fn accepts_audience_given_as_a_string() {
    let f = simple().await;
    let t = token(&f.key, &claims("issuer", json!("kbs"), "tester"));
    assert!(f.auth.check(Some(&bearer(&t)), URI, NOW).is_ok());
}

#[tokio::test]
async fn refuses_token_signed_by_another_ed25519_key() {
    let f = simple().await;
    let other = SigningKey::generate_ed25519().unwrap();
    let t = token(&other, &claims("issuer", json!(["kbs"]), "tester"));
    let error = f.auth.check(Some(&bearer(&t)), URI, NOW).unwrap_err();
    assert!(matches!(error, Error::NoMatchingKey), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("Cannot verify token with any of the issuers")
    );
    assert!(!error.is_forbidden());
}

#[tokio::test]
async fn refuses_token_from_another_issuer() {
    let f = simple().await;
    let t = token(&f.key, &claims("mallory", json!(["kbs"]), "tester"));
    let error = f.auth.check(Some(&bearer(&t)), URI, NOW).unwrap_err();
    assert!(
        matches!(&error, Error::IssuerNotAccepted { issuer } if issuer.as_deref() == Some("mallory")),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("Cannot verify token with any of the issuers: issuer")
    );
}

#[tokio::test]
async fn refuses_token_for_another_audience() {
    let f = simple().await;
    for aud in [json!(["other"]), json!("other"), json!([]), Value::Null] {
        let t = token(&f.key, &claims("issuer", aud.clone(), "tester"));
        let error = f.auth.check(Some(&bearer(&t)), URI, NOW).unwrap_err();
        assert!(
            matches!(error, Error::AudienceNotAccepted { .. }),
            "{aud}: {error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("Cannot verify token with any of the issuers: audience")
        );
    }
}

#[tokio::test]
async fn refuses_role_outside_the_acl_as_forbidden() {
    let f = fixture(&[("tester", "^/kbs/v0/reference-value/[a-zA-Z0-9]+$")]).await;
    let t = token(&f.key, &claims("issuer", json!(["kbs"]), "tester"));
    assert!(
        f.auth
            .check(Some(&bearer(&t)), "/kbs/v0/reference-value/svn", NOW)
            .is_ok()
    );
    let error = f.auth.check(Some(&bearer(&t)), URI, NOW).unwrap_err();
    assert!(error.is_forbidden());
    assert_eq!(
        error.to_string(),
        "Role tester not allowed for path /kbs/v0/resource-policy"
    );
}

#[tokio::test]
async fn acl_entries_apply_only_to_their_role() {
    let f = fixture(&[
        ("admin", "^/kbs/v0/.*$"),
        ("reader", "^/kbs/v0/reference-value/.*$"),
    ])
    .await;
    let reader = token(&f.key, &claims("issuer", json!(["kbs"]), "reader"));
    let error = f.auth.check(Some(&bearer(&reader)), URI, NOW).unwrap_err();
    assert!(error.is_forbidden());
    let admin = token(&f.key, &claims("issuer", json!(["kbs"]), "admin"));
    assert!(f.auth.check(Some(&bearer(&admin)), URI, NOW).is_ok());
}

#[tokio::test]
async fn matches_acl_against_the_uri_with_its_query() {
    let f = fixture(&[("tester", "^/kbs/v0/resource/a/b/c$")]).await;
    let t = token(&f.key, &claims("issuer", json!(["kbs"]), "tester"));
    assert!(
        f.auth
            .check(Some(&bearer(&t)), "/kbs/v0/resource/a/b/c", NOW)
            .is_ok()
    );
    let error = f
        .auth
        .check(Some(&bearer(&t)), "/kbs/v0/resource/a/b/c?version=2", NOW)
        .unwrap_err();
    assert!(error.is_forbidden(), "{error:?}");
}

#[tokio::test]
async fn deny_all_refuses_everything() {
    let auth = AdminAuth::new(&AdminConfig::DenyAll {}).await.unwrap();
    let error = auth.check(Some("Bearer x.y.z"), URI, NOW).unwrap_err();
    assert!(matches!(error, Error::DenyAll));
    assert!(
        error
            .to_string()
            .contains("DenyAll authorization_mode is enabled")
    );
    assert!(!error.is_forbidden());
    assert!(!auth.is_insecure());
}

#[tokio::test]
async fn insecure_allow_all_allows_without_credentials_and_says_so() {
    let auth = AdminAuth::new(&AdminConfig::InsecureAllowAll {})
        .await
        .unwrap();
    assert!(auth.is_insecure());
    assert_eq!(
        auth.check(None, URI, NOW).unwrap(),
        AdminIdentity::Unauthenticated
    );
}

#[tokio::test]
async fn refuses_missing_or_non_bearer_authorization() {
    let f = simple().await;
    let t = token(&f.key, &claims("issuer", json!(["kbs"]), "tester"));
    let headers = [
        None,
        Some(String::new()),
        Some(t.clone()),
        Some(format!("bearer {t}")),
        Some(format!("Basic {t}")),
        Some("Bearer ".to_owned()),
    ];
    for header in headers {
        let error = f.auth.check(header.as_deref(), URI, NOW).unwrap_err();
        assert!(
            matches!(error, Error::MissingBearer),
            "{header:?}: {error:?}"
        );
        assert_eq!(error.to_string(), "Failed to parse HTTP Auth Bearer header");
    }
}

#[tokio::test]
async fn refuses_expired_token_after_the_leeway() {
    let f = simple().await;
    let mut c = claims("issuer", json!(["kbs"]), "tester");
    c["exp"] = json!(NOW - 30);
    let within_leeway = token(&f.key, &c);
    assert!(
        f.auth
            .check(Some(&bearer(&within_leeway)), URI, NOW)
            .is_ok()
    );
    c["exp"] = json!(NOW - 61);
    let expired = token(&f.key, &c);
    let error = f.auth.check(Some(&bearer(&expired)), URI, NOW).unwrap_err();
    assert!(matches!(error, Error::Expired), "{error:?}");
}

#[tokio::test]
async fn refuses_token_without_exp() {
    let f = simple().await;
    let mut c = claims("issuer", json!(["kbs"]), "tester");
    c.as_object_mut().unwrap().remove("exp");
    let error = f
        .auth
        .check(Some(&bearer(&token(&f.key, &c))), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::MissingExp), "{error:?}");
}

#[tokio::test]
async fn refuses_token_without_a_string_role() {
    let f = simple().await;
    let mut c = claims("issuer", json!(["kbs"]), "tester");
    c.as_object_mut().unwrap().remove("role");
    let error = f
        .auth
        .check(Some(&bearer(&token(&f.key, &c))), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::MissingRole), "{error:?}");
    c["role"] = json!(["tester"]);
    let error = f
        .auth
        .check(Some(&bearer(&token(&f.key, &c))), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::MissingRole), "{error:?}");
}

#[tokio::test]
async fn refuses_unsigned_and_malformed_tokens() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let f = simple().await;
    let c = claims("issuer", json!(["kbs"]), "tester");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    for t in [unsigned.as_str(), "garbage", "a.b.c"] {
        let error = f.auth.check(Some(&bearer(t)), URI, NOW).unwrap_err();
        assert!(matches!(error, Error::MalformedToken), "{t}: {error:?}");
    }
}

#[tokio::test]
async fn refuses_token_with_tampered_claims() {
    let f = simple().await;
    let t = token(&f.key, &claims("issuer", json!(["kbs"]), "tester"));
    let parts: Vec<&str> = t.split('.').collect();
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims("issuer", json!(["kbs"]), "admin").to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let error = f
        .auth
        .check(Some(&bearer(&tampered)), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::NoMatchingKey), "{error:?}");
}

#[tokio::test]
async fn tries_identity_providers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let first_key = SigningKey::generate_ed25519().unwrap();
    let second_key = SigningKey::generate_es256().unwrap();
    let first = write(
        dir.path(),
        "first.pem",
        &first_key.public_key_pem().unwrap(),
    );
    let second = write(
        dir.path(),
        "second.pem",
        &second_key.public_key_pem().unwrap(),
    );
    let config = authenticated(
        vec![
            provider(Some("first"), None, &first),
            // Same key as the first, other issuer: reached only when the first refuses.
            provider(Some("first-again"), None, &first),
            provider(Some("second"), Some("kbs"), &second),
        ],
        &[("tester", "^/kbs/.*$")],
    );
    let auth = AdminAuth::new(&config).await.unwrap();

    let by_second = token(&second_key, &claims("second", json!(["kbs"]), "tester"));
    let identity = auth.check(Some(&bearer(&by_second)), URI, NOW).unwrap();
    assert!(
        matches!(identity, AdminIdentity::Authenticated { issuer: Some(i), .. } if i == "second")
    );

    let again = token(&first_key, &claims("first-again", json!([]), "tester"));
    let identity = auth.check(Some(&bearer(&again)), URI, NOW).unwrap();
    assert!(
        matches!(identity, AdminIdentity::Authenticated { issuer: Some(i), .. } if i == "first-again"),
        "an issuer mismatch moves on to the next provider"
    );

    let nobody = token(&first_key, &claims("third", json!([]), "tester"));
    let error = auth.check(Some(&bearer(&nobody)), URI, NOW).unwrap_err();
    assert!(
        matches!(error, Error::IssuerNotAccepted { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn verifies_with_jwk_set_by_kid_and_jwk_alg() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let mut jwk = key.public_jwk().unwrap();
    jwk.kid = Some("admin-1".to_owned());
    let jwks = json!({ "keys": [jwk] }).to_string();
    let path = write(dir.path(), "jwks.json", &jwks);
    let config = authenticated(
        vec![IdentityProviderConfig {
            jwk_set_uri: Some(format!("file://{path}")),
            ..IdentityProviderConfig::default()
        }],
        &[("tester", "^/kbs/.*$")],
    );
    let auth = AdminAuth::new(&config).await.unwrap();
    let c = claims("anyone", json!([]), "tester");
    let with_kid = |kid: &str| {
        let extras = HeaderExtras {
            kid: Some(kid.to_owned()),
            jwk: None,
        };
        jwt::sign(&key, &extras, &c).unwrap()
    };
    assert!(
        auth.check(Some(&bearer(&with_kid("admin-1"))), URI, NOW)
            .is_ok()
    );
    let error = auth
        .check(Some(&bearer(&with_kid("admin-2"))), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::NoMatchingKey), "{error:?}");
    let no_kid = token(&key, &c);
    assert!(auth.check(Some(&bearer(&no_kid)), URI, NOW).is_err());
}

#[tokio::test]
async fn refuses_invalid_configurations_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_ed25519().unwrap();
    let pem = write(dir.path(), "admin.pem", &key.public_key_pem().unwrap());
    let good = || provider(None, None, &pem);
    let acl = [("tester", "^/kbs/v0/.*$")];

    let error = AdminAuth::new(&authenticated(vec![], &acl))
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::NoIdentityProviders), "{error:?}");

    let no_source = IdentityProviderConfig {
        issuer: Some("issuer".to_owned()),
        ..IdentityProviderConfig::default()
    };
    let error = AdminAuth::new(&authenticated(vec![good(), no_source], &acl))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, Error::NoKeySource { index: 1 }),
        "{error:?}"
    );

    let error = AdminAuth::new(&authenticated(vec![good()], &[]))
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::EmptyAcl), "{error:?}");

    for regex in ["/kbs/v0/.*$", "^/kbs/v0/.*", "^/admin/.*$"] {
        let error = AdminAuth::new(&authenticated(vec![good()], &[("tester", regex)]))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&error, Error::AclRegexNotAnchored { regex: r } if r == regex),
            "{regex}: {error:?}"
        );
        assert!(error.to_string().contains(regex));
    }
    let error = AdminAuth::new(&authenticated(vec![good()], &[("tester", "^/kbs/(v0$")]))
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::AclRegexInvalid { .. }), "{error:?}");
    assert!(error.to_string().contains("^/kbs/(v0$"));

    let missing = dir.path().join("missing.pem");
    let error = AdminAuth::new(&authenticated(
        vec![provider(None, None, missing.to_str().unwrap())],
        &acl,
    ))
    .await
    .err()
    .unwrap();
    assert!(
        matches!(error, Error::KeySource { index: 0, .. }),
        "{error:?}"
    );

    let not_a_key = write(dir.path(), "junk.pem", "not a key");
    let error = AdminAuth::new(&authenticated(vec![provider(None, None, &not_a_key)], &acl))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, Error::InvalidPublicKey { index: 0, .. }),
        "{error:?}"
    );

    let remote = IdentityProviderConfig {
        public_key_uri: Some("http://idp.example/key.pem".to_owned()),
        ..IdentityProviderConfig::default()
    };
    let error = AdminAuth::new(&authenticated(vec![remote], &acl))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            Error::KeySource {
                source: SourceError::UnsupportedScheme { .. },
                ..
            }
        ),
        "{error:?}"
    );
}

#[derive(serde::Deserialize)]
struct Section {
    admin: AdminConfig,
}

fn parse(toml_text: &str) -> Result<AdminConfig, toml::de::Error> {
    toml::from_str::<Section>(toml_text).map(|s| s.admin)
}

#[test]
fn parses_upstream_admin_sections() {
    let config = parse(
        r#"
[admin]
authorization_mode = "AuthenticatedAuthorization"

[admin.authentication.bearer_jwt]
identity_providers = [
  { issuer = "issuer", audience = "kbs", public_key_uri = "./work/kbs.pem" },
  { jwk_set_uri = "https://idp.example/realms/x" },
]

[admin.authorization.regex_acl]
acls = [{ role = "admin", allowed_endpoints = "^/kbs/.+$" }]
"#,
    )
    .unwrap();
    let expected = authenticated(
        vec![
            provider(Some("issuer"), Some("kbs"), "./work/kbs.pem"),
            IdentityProviderConfig {
                jwk_set_uri: Some("https://idp.example/realms/x".to_owned()),
                ..IdentityProviderConfig::default()
            },
        ],
        &[("admin", "^/kbs/.+$")],
    );
    assert_eq!(config, expected);
    assert_eq!(
        parse("[admin]\nauthorization_mode = \"DenyAll\"\n").unwrap(),
        AdminConfig::DenyAll {}
    );
    assert_eq!(
        parse("[admin]\nauthorization_mode = \"InsecureAllowAll\"\n").unwrap(),
        AdminConfig::InsecureAllowAll {}
    );
}

#[tokio::test]
async fn empty_tables_parse_but_fail_at_startup() {
    let config = parse(
        r#"
[admin]
authorization_mode = "AuthenticatedAuthorization"
[admin.authentication.bearer_jwt]
[admin.authorization.regex_acl]
"#,
    )
    .unwrap();
    assert!(matches!(
        AdminAuth::new(&config).await,
        Err(Error::NoIdentityProviders)
    ));
}

#[test]
fn rejects_unknown_and_historical_admin_keys() {
    for text in [
        "[admin]\nauthorization_mode = \"DenyAll\"\ntype = \"Simple\"\n",
        "[admin]\nauthorization_mode = \"InsecureAllowAll\"\ninsecure_api = true\n",
        "[admin]\ninsecure_api = true\n",
        "[admin]\nauthorization_mode = \"Simple\"\n",
        // Both tables are required in AuthenticatedAuthorization.
        "[admin]\nauthorization_mode = \"AuthenticatedAuthorization\"\n[admin.authentication.bearer_jwt]\n",
        r#"
[admin]
authorization_mode = "AuthenticatedAuthorization"
[admin.authentication.bearer_jwt]
identity_providers = [{ public_key_uri = "k.pem", extra = 1 }]
[admin.authorization.regex_acl]
"#,
    ] {
        assert!(parse(text).is_err(), "{text}");
    }
}

#[tokio::test]
async fn refuses_token_used_before_nbf() {
    let f = simple().await;
    let mut c = claims("issuer", json!(["kbs"]), "tester");
    c["nbf"] = json!(NOW + 3000);
    let error = f
        .auth
        .check(Some(&bearer(&token(&f.key, &c))), URI, NOW)
        .unwrap_err();
    assert!(matches!(error, Error::NotYetValid), "{error:?}");
}

#[tokio::test]
async fn debug_output_names_the_mode_only() {
    let f = simple().await;
    let text = format!("{:?}", f.auth);
    assert!(text.contains("AuthenticatedAuthorization"), "{text}");
    assert!(!text.contains("BEGIN"), "{text}");
}
