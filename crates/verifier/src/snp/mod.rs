//! `snp`: AMD SEV-SNP attestation reports (verifiers spec §1).

mod report;

pub use report::{Product, TcbVersion};
