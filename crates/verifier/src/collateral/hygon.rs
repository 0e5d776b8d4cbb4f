//! Hygon collateral: where a chip's HSK and CEK come from when the CSV evidence does not carry
//! them (verifiers spec §8.2 step 1).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use async_trait::async_trait;

use crate::collateral::CollateralError;
use crate::csv::{ChipSerial, HSK_CEK_LEN};

/// A source of a chip's `HSK cert || CEK cert` (2916 bytes), keyed by chip serial as Hygon's
/// KDS keys them (`https://cert.hygon.cn/hsk_cek?snumber=<serial>`).
///
/// Implementations only fetch: the CSV verifier checks the pair against the embedded HRK and
/// the evidence's PEK, so a source needs no trust of its own. A source that has nothing for
/// the chip returns [`CollateralError::NotFound`].
#[async_trait]
pub trait HskCekSource: Send + Sync {
    /// The HSK and CEK certificates of chip `serial`, concatenated.
    async fn hsk_cek(&self, serial: &ChipSerial) -> Result<Vec<u8>, CollateralError>;
}

/// Upstream's offline store: `<path>/hsk_cek/<serial>/hsk_cek.cert` (trustee reads
/// `/opt/hygon/csv/hsk_cek/<serial>/hsk_cek.cert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineStore {
    path: PathBuf,
}

impl OfflineStore {
    /// Upstream's store directory.
    pub const DEFAULT_PATH: &'static str = "/opt/hygon/csv";

    /// A store rooted at `path` (the directory that holds `hsk_cek/`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the pair of chip `serial` lives. The serial is alphanumeric, so the path cannot
    /// leave the store.
    pub fn file_path(&self, serial: &ChipSerial) -> PathBuf {
        self.path
            .join("hsk_cek")
            .join(serial.as_str())
            .join("hsk_cek.cert")
    }
}

#[async_trait]
impl HskCekSource for OfflineStore {
    async fn hsk_cek(&self, serial: &ChipSerial) -> Result<Vec<u8>, CollateralError> {
        let path = self.file_path(serial);
        // A 3 KiB local read; not worth a blocking-pool hop.
        let io_error = |err: io::Error| match err.kind() {
            io::ErrorKind::NotFound => CollateralError::NotFound {
                what: "hsk/cek",
                source_name: "hygon offline store",
            },
            kind => CollateralError::Io {
                path: path.clone(),
                kind,
            },
        };
        let file = File::open(&path).map_err(io_error)?;
        // Read one byte more than a pair so an oversized file is refused without reading it
        // all; the verifier rejects any other length by name.
        let mut bytes = Vec::with_capacity(HSK_CEK_LEN + 1);
        let limit = u64::try_from(HSK_CEK_LEN + 1).unwrap_or(u64::MAX);
        file.take(limit).read_to_end(&mut bytes).map_err(io_error)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> OfflineStore {
        OfflineStore::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/collateral/csv"
        ))
    }

    #[tokio::test]
    async fn reads_the_pair_of_a_known_chip() {
        let serial = ChipSerial::new("NZA9T14052605").unwrap();
        let bytes = store().hsk_cek(&serial).await.unwrap();
        assert_eq!(bytes.len(), HSK_CEK_LEN);
    }

    #[tokio::test]
    async fn unknown_chip_is_not_found() {
        let serial = ChipSerial::new("KPA64911240507").unwrap();
        assert_eq!(
            store().hsk_cek(&serial).await,
            Err(CollateralError::NotFound {
                what: "hsk/cek",
                source_name: "hygon offline store"
            })
        );
    }

    #[test]
    fn file_path_follows_the_upstream_layout() {
        let store = OfflineStore::new(OfflineStore::DEFAULT_PATH);
        let serial = ChipSerial::new("NZA9T14052605").unwrap();
        assert_eq!(
            store.file_path(&serial),
            PathBuf::from("/opt/hygon/csv/hsk_cek/NZA9T14052605/hsk_cek.cert")
        );
    }
}
