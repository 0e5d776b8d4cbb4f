//! The one place that maps a TEE to its verifier.

use std::sync::Arc;

use kbs_types::Tee;

use crate::az_snp_vtpm::AzSnpVtpm;
use crate::az_tdx_vtpm::AzTdxVtpm;
use crate::cca::Cca;
use crate::csv::Csv;
use crate::nvidia::Nvidia;
use crate::sample::{Sample, SampleDevice};
use crate::sgx::Sgx;
use crate::snp::Snp;
use crate::tdx::Tdx;
use crate::tpm::Tpm;
use crate::{Error, Verifier, VerifierConfig, VerifierContext};

/// Creates the verifier for `tee`, configured from `config`.
///
/// Verifiers are cheap to create, so callers make one per request; a verifier that needs
/// cached collateral keeps the cache behind its own shared handle.
pub fn verifier_for(tee: Tee, config: &VerifierConfig) -> Result<Arc<dyn Verifier>, Error> {
    // The config is read by the hardware verifiers that land in later issues.
    let _ = config;
    match tee {
        Tee::Sample => Ok(Arc::new(Sample)),
        Tee::SampleDevice => Ok(Arc::new(SampleDevice)),
        Tee::Csv => Ok(Arc::new(Csv::from_config(config.csv_verifier.as_ref())?)),
        Tee::Snp => Ok(Arc::new(Snp::from_config(config.snp_verifier.as_ref())?)),
        Tee::AzSnpVtpm => Ok(Arc::new(AzSnpVtpm::default())),
        Tee::Cca => Ok(Arc::new(Cca::from_config(config.cca_verifier.as_ref())?)),
        Tee::Tpm => Ok(Arc::new(Tpm)),
        Tee::Nvidia => Ok(Arc::new(Nvidia::from_config(
            config.nvidia_verifier.as_ref(),
            Arc::new(crate::clock::SystemClock),
        )?)),
        Tee::Tdx | Tee::Sgx | Tee::AzTdxVtpm => {
            verifier_for_with(tee, config, &VerifierContext::new())
        }
        Tee::Se | Tee::HygonDcu | Tee::NvidiaDpu => Err(Error::Unsupported { tee }),
    }
}

/// Creates the verifier for `tee` like [`verifier_for`], in `context`.
///
/// Verifiers that read a clock or collateral take them from `context`: a fixed verification
/// time, an offline collateral directory instead of the network, or a fetcher with its own
/// cache. The others are created exactly as by [`verifier_for`].
pub fn verifier_for_with(
    tee: Tee,
    config: &VerifierConfig,
    context: &VerifierContext,
) -> Result<Arc<dyn Verifier>, Error> {
    match tee {
        Tee::Snp => {
            let sources = context.vcek_sources(config.snp_verifier.as_ref())?;
            Ok(Arc::new(Snp::new(sources, context.clock())))
        }
        Tee::AzSnpVtpm => Ok(Arc::new(AzSnpVtpm::new(context.clock()))),
        Tee::Nvidia => Ok(Arc::new(Nvidia::from_config(
            config.nvidia_verifier.as_ref(),
            context.clock(),
        )?)),
        Tee::Csv => Ok(Arc::new(context.csv(config.csv_verifier.as_ref())?)),
        Tee::Tdx => {
            let source = context.dcap_collateral(config.dcap_verifier.as_ref())?;
            Ok(Arc::new(Tdx::new(source, context.clock())))
        }
        Tee::Sgx => {
            let source = context.dcap_collateral(config.dcap_verifier.as_ref())?;
            Ok(Arc::new(Sgx::new(source, context.clock())))
        }
        Tee::AzTdxVtpm => {
            let source = context.dcap_collateral(config.dcap_verifier.as_ref())?;
            Ok(Arc::new(AzTdxVtpm::new(source, context.clock())))
        }
        _ => verifier_for(tee, config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_tees_have_verifiers() {
        let config = VerifierConfig::default();
        assert!(verifier_for(Tee::Sample, &config).is_ok());
        assert!(verifier_for(Tee::SampleDevice, &config).is_ok());
    }

    #[test]
    fn hardware_tees_are_unsupported_for_now() {
        let config = VerifierConfig::default();
        for tee in [Tee::Se, Tee::NvidiaDpu] {
            let err = verifier_for(tee, &config).err().unwrap();
            assert_eq!(err, Error::Unsupported { tee });
        }
        assert_eq!(
            Error::Unsupported {
                tee: Tee::AzSnpVtpm
            }
            .to_string(),
            "no verifier for tee `az-snp-vtpm` is available in this build"
        );
    }
}
