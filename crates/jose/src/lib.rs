//! JOSE for the KBS: JWK, JWE (RSA1_5, RSA-OAEP-256, ECDH-ES+A256KW), JWT/JWS, x5c, RFC 8785 runtime-data hashing
