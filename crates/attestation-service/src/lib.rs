//! Attestation Service: evidence -> verifier -> claims -> policy -> EAR token
