//! KBS client SDK (RCAR, sample attester, resources, admin) and the kbs-client CLI
