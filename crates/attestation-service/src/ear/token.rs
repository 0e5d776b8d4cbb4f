//! The EAR token's claims set, serialised exactly as `ear` 0.5 does (spec §5.2).

use std::collections::BTreeMap;

use serde::Serialize;

use super::appraisal::Appraisal;

/// The JWT claims. Field order is the wire order: `ear` emits its own members first and then
/// the extensions (`exp`, `iss`) sorted by name.
#[derive(Debug, Serialize)]
pub(crate) struct EarClaims<'a> {
    pub(crate) eat_profile: &'a str,
    pub(crate) iat: i64,
    #[serde(rename = "ear.verifier-id")]
    pub(crate) verifier_id: VerifierId<'a>,
    /// Keyed `<class><n>`; sorted, as upstream's `BTreeMap`.
    pub(crate) submods: BTreeMap<String, Appraisal>,
    pub(crate) exp: i64,
    pub(crate) iss: &'a str,
}

/// `ear.verifier-id`.
#[derive(Debug, Serialize)]
pub(crate) struct VerifierId<'a> {
    pub(crate) developer: &'a str,
    pub(crate) build: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ear::appraisal::RuleOutcome;

    #[test]
    fn claims_serialise_in_wire_order() {
        let appraisal = Appraisal::from_policy(
            "p_cpu",
            "p",
            RuleOutcome::Missing,
            RuleOutcome::Missing,
            BTreeMap::new(),
        )
        .unwrap();
        let claims = EarClaims {
            eat_profile: "profile",
            iat: 10,
            verifier_id: VerifierId {
                developer: "dev",
                build: "build",
            },
            submods: BTreeMap::from([("cpu0".to_owned(), appraisal)]),
            exp: 310,
            iss: "issuer",
        };
        let text = serde_json::to_string(&claims).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"eat_profile":"profile","iat":10,"#,
                r#""ear.verifier-id":{"developer":"dev","build":"build"},"#,
                r#""submods":{"cpu0":{"ear.status":"none","ear.trustworthiness-vector":"#,
                r#"{"instance-identity":0,"configuration":0,"executables":0,"file-system":0,"#,
                r#""hardware":0,"runtime-opaque":0,"storage-opaque":0,"sourced-data":0},"#,
                r#""ear.appraisal-policy-id":"p"}},"exp":310,"iss":"issuer"}"#
            )
        );
    }
}
