//! The resource policy (Rego): stored, compiled once, evaluated per attested request.
