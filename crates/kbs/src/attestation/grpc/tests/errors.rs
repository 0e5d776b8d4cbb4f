//! Settings, and how what the AS answers (or the transport) maps to error kinds.

use super::*;

#[test]
fn settings_defaults_scheme_and_limits() {
    let d = GrpcSettings::default();
    assert_eq!(d.as_addr, "http://127.0.0.1:50004");
    assert_eq!(d.pool_size, 100);
    assert_eq!(d.request_timeout, Duration::from_secs(300));
    let bare = GrpcSettings {
        as_addr: "127.0.0.1:50004".into(),
        ..GrpcSettings::default()
    };
    assert_eq!(bare.uri(), "http://127.0.0.1:50004");
    assert!(bare.endpoint().is_ok());
    // TLS (our extension): https:// is accepted, with or without a CA bundle
    for ca_cert in [None, Some(PathBuf::from("/etc/kbs/as-ca.pem"))] {
        let tls = GrpcSettings {
            as_addr: "https://as.example:50004".into(),
            ca_cert,
            ..GrpcSettings::default()
        };
        assert!(tls.is_tls());
        assert!(tls.endpoint().is_ok());
    }
    assert!(!bare.is_tls());
    // a CA bundle with a plaintext address is refused by its key
    let plain_with_ca = GrpcSettings {
        ca_cert: Some(PathBuf::from("/etc/kbs/as-ca.pem")),
        ..GrpcSettings::default()
    };
    let err = plain_with_ca.endpoint().unwrap_err();
    assert!(
        err.to_string()
            .contains("as_ca_cert = \"/etc/kbs/as-ca.pem\"")
            && err.to_string().contains("https://"),
        "{err}"
    );
    for (addr, pool, needle) in [
        ("ftp://as:1", 1, "scheme"),
        ("http://", 1, "as_addr"),
        ("http://as:50004", 0, "pool_size"),
        ("http://as:50004", MAX_POOL_SIZE + 1, "pool_size"),
    ] {
        let settings = GrpcSettings {
            as_addr: addr.into(),
            pool_size: pool,
            ..GrpcSettings::default()
        };
        let err = settings.endpoint().unwrap_err();
        assert!(err.to_string().contains(needle), "{addr}: {err}");
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
}

#[test]
fn remote_statuses_map_by_operation() {
    use RemoteOperation as Op;
    for (op, code, kind) in [
        (Op::AttestationEvaluate, Code::Aborted, ErrorKind::Refused),
        (
            Op::GetAttestationChallenge,
            Code::Aborted,
            ErrorKind::Refused,
        ),
        (
            Op::SetAttestationPolicy,
            Code::Aborted,
            ErrorKind::BadRequest,
        ),
        (
            Op::RegisterReferenceValue,
            Code::Aborted,
            ErrorKind::BadRequest,
        ),
        (Op::QueryReferenceValue, Code::Aborted, ErrorKind::Internal),
        (Op::DeleteReferenceValue, Code::Aborted, ErrorKind::Internal),
        // an upstream AS (or RVPS) without the extension
        (
            Op::DeleteReferenceValue,
            Code::Unimplemented,
            ErrorKind::Unsupported,
        ),
        (
            Op::DeleteReferenceValue,
            Code::NotFound,
            ErrorKind::NotFound,
        ),
        // an id that can never be stored: nothing is stored under it
        (
            Op::DeleteReferenceValue,
            Code::InvalidArgument,
            ErrorKind::NotFound,
        ),
        (
            Op::DeleteReferenceValue,
            Code::Unavailable,
            ErrorKind::Unavailable,
        ),
        (
            Op::QueryReferenceValue,
            Code::Unimplemented,
            ErrorKind::Internal,
        ),
        (
            Op::AttestationEvaluate,
            Code::Unimplemented,
            ErrorKind::Internal,
        ),
        (
            Op::AttestationEvaluate,
            Code::Unavailable,
            ErrorKind::Unavailable,
        ),
        (
            Op::SetAttestationPolicy,
            Code::DeadlineExceeded,
            ErrorKind::Unavailable,
        ),
    ] {
        assert_eq!(remote_error_kind(op, code), kind, "{op} {code:?}");
    }
}

#[test]
fn policy_extension_statuses_map_like_the_builtin_as() {
    use RemoteOperation as Op;
    for op in [
        Op::GetAttestationPolicy,
        Op::ListAttestationPolicies,
        Op::DeleteAttestationPolicy,
    ] {
        assert!(op.is_policy_extension(), "{op}");
        for (code, kind) in [
            // an upstream AS: the call is beyond its API
            (Code::Unimplemented, ErrorKind::Unsupported),
            (Code::NotFound, ErrorKind::NotFound),
            // the builtin AS's invalid policy id is the admin's bad request too
            (Code::InvalidArgument, ErrorKind::BadRequest),
            (Code::Aborted, ErrorKind::Internal),
            (Code::Unavailable, ErrorKind::Unavailable),
            (Code::DeadlineExceeded, ErrorKind::Unavailable),
            (Code::PermissionDenied, ErrorKind::Internal),
        ] {
            assert_eq!(remote_error_kind(op, code), kind, "{op} {code:?}");
        }
    }
    for op in [
        Op::AttestationEvaluate,
        Op::SetAttestationPolicy,
        Op::GetAttestationChallenge,
        Op::RegisterReferenceValue,
        Op::QueryReferenceValue,
        Op::DeleteReferenceValue,
    ] {
        assert!(!op.is_policy_extension(), "{op}");
    }
}

#[test]
fn only_a_marked_unavailable_is_the_rvps() {
    assert!(is_rvps_unavailable(&rvps_down_status()));
    // unmarked, or marked on another code, or naming something else
    assert!(!is_rvps_unavailable(&Status::unavailable("x")));
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static(UNAVAILABLE_RVPS),
    );
    assert!(!is_rvps_unavailable(&Status::with_metadata(
        Code::Aborted,
        "x",
        metadata
    )));
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static("storage"),
    );
    assert!(!is_rvps_unavailable(&Status::with_metadata(
        Code::Unavailable,
        "x",
        metadata
    )));
}

#[test]
fn transport_failures_are_told_from_answers_of_the_as() {
    assert!(is_transport_failure(&Status::unavailable("x")));
    assert!(is_transport_failure(&Status::deadline_exceeded("x")));
    assert!(!is_transport_failure(&Status::aborted("x")));
    assert!(!is_transport_failure(&Status::internal("x")));
    // a locally made status carries its cause
    let local = Status::from_error(Box::new(std::io::Error::other("connection reset")));
    assert_eq!(local.code(), Code::Unknown);
    assert!(is_transport_failure(&local));
    assert!(transport_reason(&local, Duration::from_secs(1)).contains("connection reset"));
    let timed_out = Status::from_error(Box::new(tonic::TimeoutExpired(())));
    assert!(is_transport_failure(&timed_out));
    assert!(
        transport_reason(&timed_out, Duration::from_secs(3))
            .starts_with("no connection within 3 s"),
        "{}",
        transport_reason(&timed_out, Duration::from_secs(3))
    );
    assert_eq!(
        truncate(&"é".repeat(5000)).chars().count(),
        MAX_MESSAGE_CHARS + 1
    );
}
