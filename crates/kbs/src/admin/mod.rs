//! Admin API authentication (bearer JWT) and authorization (regex ACL by role).
