//! Key Broker Service: RCAR protocol, resource release, admin API
