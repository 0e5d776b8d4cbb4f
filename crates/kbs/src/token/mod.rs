//! Attestation-token verification (`[attestation_token]`) and TEE public key extraction.
