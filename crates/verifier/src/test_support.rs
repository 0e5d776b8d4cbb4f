//! Helpers shared by the unit tests of every verifier module.

use std::path::PathBuf;

/// A path in `shared/testdata` (beside the repository), where the cross-project vectors live.
pub(crate) fn shared_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .join(rel)
}

/// Reads a file of the shared test data set, naming it when it cannot be read.
pub(crate) fn shared(rel: &str) -> Vec<u8> {
    let path = shared_path(rel);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The claims of the one `cpu` entry `verifier` returns for `evidence`, or its error: what
/// every single-device verifier's tests compare.
pub(crate) async fn cpu_claims(
    verifier: &dyn crate::Verifier,
    evidence: &serde_json::Value,
    report_data: &crate::ReportData,
    init_data: &crate::InitDataHash,
) -> Result<serde_json::Map<String, serde_json::Value>, crate::Error> {
    let mut entries = verifier.evaluate(evidence, report_data, init_data).await?;
    assert_eq!(
        entries.len(),
        1,
        "a single-device verifier returns one entry"
    );
    let (claims, class) = entries.remove(0);
    assert_eq!(class, crate::TeeClass::Cpu);
    Ok(claims.into_map())
}
