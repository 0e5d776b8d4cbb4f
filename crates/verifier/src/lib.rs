//! Evidence verifiers: the Verifier trait and one module per TEE
