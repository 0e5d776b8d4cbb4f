//! The Hygon key chain: HRK (embedded) → HSK → CEK → PEK (verifiers spec §8.2 step 2).

use super::CsvError;
use super::cert::{
    CA_CERT_LEN, CSV_CERT_LEN, CaCertificate, CsvCertificate, Sm2Identity, USAGE_CEK, USAGE_HRK,
    USAGE_HSK, USAGE_PEK,
};
use super::error::CertRole;

/// Hygon's root key, self-signed (`roots/hygon/README.md` gives its source).
pub const HRK_CERT: &[u8] = include_bytes!("../../roots/hygon/hrk.cert");

/// Size of the HSK||CEK pair as Hygon's KDS and the offline store serve it.
pub const HSK_CEK_LEN: usize = CA_CERT_LEN + CSV_CERT_LEN;

const _: () = assert!(HSK_CEK_LEN == 2916);

/// A chip's HSK and CEK certificates, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HskCek {
    pub(crate) hsk: CaCertificate,
    pub(crate) cek: CsvCertificate,
}

impl HskCek {
    /// Parses `HSK cert (832 bytes) || CEK cert (2084 bytes)`, the body of
    /// `https://cert.hygon.cn/hsk_cek?snumber=<serial>` and of `hsk_cek.cert` files.
    pub fn parse(bytes: &[u8]) -> Result<Self, CsvError> {
        let (hsk, cek) = bytes
            .split_at_checked(CA_CERT_LEN)
            .ok_or(CsvError::Truncated {
                structure: "hsk/cek pair",
            })?;
        Ok(Self {
            hsk: CaCertificate::parse(hsk, CertRole::Hsk)?,
            cek: CsvCertificate::parse(cek, CertRole::Cek)?,
        })
    }
}

/// A PEK whose chain to the embedded HRK was checked; only this can check a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPek {
    identity: Sm2Identity,
}

impl VerifiedPek {
    /// Test only: treats `pek` as verified without any chain, to check reports alone.
    #[cfg(test)]
    pub(crate) fn danger_unchained_for_tests(pek: &CsvCertificate) -> Self {
        Self {
            identity: pek.identity().clone(),
        }
    }

    /// The PEK's key and user id.
    pub(crate) fn identity(&self) -> &Sm2Identity {
        &self.identity
    }
}

/// Verifies `pek` up to the embedded HRK through the chip's `hsk_cek`.
///
/// Every link checks the child's key usage, that the child names its issuer (CA `sid` ==
/// issuer `kid`; a CEK's `sid` == HSK `kid`), and the SM2 signature with the issuer's key and
/// user id. The HRK is also checked against itself, so a corrupted build fails loudly rather
/// than trusting a random key.
pub fn verify_pek_chain(hsk_cek: &HskCek, pek: &CsvCertificate) -> Result<VerifiedPek, CsvError> {
    let hrk = CaCertificate::parse(HRK_CERT, CertRole::Hrk)?;
    verify_pek_chain_to(&hrk, hsk_cek, pek)
}

/// [`verify_pek_chain`] with the root passed in, so tests can prove a foreign root fails.
pub(crate) fn verify_pek_chain_to(
    hrk: &CaCertificate,
    hsk_cek: &HskCek,
    pek: &CsvCertificate,
) -> Result<VerifiedPek, CsvError> {
    let HskCek { hsk, cek } = hsk_cek;
    if hrk.role() != CertRole::Hrk || hsk.role() != CertRole::Hsk {
        return Err(CsvError::MalformedCertificate {
            cert: hsk.role(),
            field: "certificate parsed for another role",
        });
    }
    hrk.verify_issued_by(hrk, USAGE_HRK)?;
    hsk.verify_issued_by(hrk, USAGE_HSK)?;

    cek.check_key(USAGE_CEK)?;
    if cek.signer_id() != hsk.key_id() {
        return Err(CsvError::IssuerMismatch {
            cert: CertRole::Cek,
            issuer: CertRole::Hsk,
        });
    }
    cek.verify_signed_by(CertRole::Hsk, USAGE_HSK, hsk.identity())?;

    pek.check_key(USAGE_PEK)?;
    pek.verify_signed_by(CertRole::Cek, USAGE_CEK, cek.identity())?;

    Ok(VerifiedPek {
        identity: pek.identity().clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::shared;

    #[test]
    fn embedded_hrk_is_the_published_root() {
        assert_eq!(HRK_CERT, shared("collateral/csv/hrk.cert"));
    }

    #[test]
    fn hsk_cek_pair_parses_exactly() {
        let hsk_cek = shared("collateral/csv/hsk_cek/NZA9T14052605/hsk_cek.cert");
        assert!(HskCek::parse(&hsk_cek).is_ok());
        assert_eq!(
            HskCek::parse(&hsk_cek[..100]),
            Err(CsvError::Truncated {
                structure: "hsk/cek pair"
            })
        );
        let mut long = hsk_cek.clone();
        long.push(0);
        assert_eq!(
            HskCek::parse(&long),
            Err(CsvError::TrailingBytes {
                structure: "csv certificate"
            })
        );
    }
}
