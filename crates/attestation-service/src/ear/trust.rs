//! AR4SI trustworthiness claims, their values and tiers (spec §5.3).

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// The eight AR4SI trustworthiness claims, in claim-key order (0..=7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrustClaim {
    InstanceIdentity,
    Configuration,
    Executables,
    FileSystem,
    Hardware,
    RuntimeOpaque,
    StorageOpaque,
    SourcedData,
}

impl TrustClaim {
    /// Every claim, in claim-key order; the token lists set claims in this order.
    pub(crate) const ALL: [Self; 8] = [
        Self::InstanceIdentity,
        Self::Configuration,
        Self::Executables,
        Self::FileSystem,
        Self::Hardware,
        Self::RuntimeOpaque,
        Self::StorageOpaque,
        Self::SourcedData,
    ];

    /// The hyphenated name used by policies and in the token.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::InstanceIdentity => "instance-identity",
            Self::Configuration => "configuration",
            Self::Executables => "executables",
            Self::FileSystem => "file-system",
            Self::Hardware => "hardware",
            Self::RuntimeOpaque => "runtime-opaque",
            Self::StorageOpaque => "storage-opaque",
            Self::SourcedData => "sourced-data",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|claim| claim.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The AR4SI tier of a claim value; an appraisal's status is the worst tier of its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrustTier {
    None,
    Affirming,
    Warning,
    Contraindicated,
}

impl TrustTier {
    /// The tier a claim value falls in (AR4SI §3.1 ranges, as the `ear` crate implements them).
    pub(crate) fn of(value: i8) -> Self {
        match value {
            -1..=1 => Self::None,
            -32..=-2 | 2..=31 => Self::Affirming,
            -96..=-33 | 32..=95 => Self::Warning,
            _ => Self::Contraindicated,
        }
    }
}

impl fmt::Display for TrustTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        })
    }
}

/// The trustworthiness vector: a value for each claim the policy set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustVector([Option<i8>; 8]);

impl TrustVector {
    /// Every claim set to 0 ("no claim"): what a policy without `trust_claims` yields.
    pub(crate) fn all_no_claim() -> Self {
        Self([Some(0); 8])
    }

    pub(crate) fn set(&mut self, claim: TrustClaim, value: i8) {
        self.0[claim.index()] = Some(value);
    }

    #[cfg(test)]
    pub(crate) fn get(&self, claim: TrustClaim) -> Option<i8> {
        self.0[claim.index()]
    }

    /// The worst tier over the set claims; `None` when no claim is set.
    pub(crate) fn status(&self) -> Option<TrustTier> {
        self.0
            .iter()
            .flatten()
            .map(|&value| TrustTier::of(value))
            .max()
    }
}

impl Serialize for TrustVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let set = TrustClaim::ALL
            .into_iter()
            .filter_map(|claim| self.0[claim.index()].map(|value| (claim.name(), value)));
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in set {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_boundaries_follow_ar4si() {
        let table = [
            (i8::MIN, TrustTier::Contraindicated),
            (-97, TrustTier::Contraindicated),
            (-96, TrustTier::Warning),
            (-33, TrustTier::Warning),
            (-32, TrustTier::Affirming),
            (-2, TrustTier::Affirming),
            (-1, TrustTier::None),
            (0, TrustTier::None),
            (1, TrustTier::None),
            (2, TrustTier::Affirming),
            (31, TrustTier::Affirming),
            (32, TrustTier::Warning),
            (95, TrustTier::Warning),
            (96, TrustTier::Contraindicated),
            (i8::MAX, TrustTier::Contraindicated),
        ];
        for (value, tier) in table {
            assert_eq!(TrustTier::of(value), tier, "{value}");
        }
    }

    #[test]
    fn tiers_order_from_none_to_contraindicated() {
        assert!(TrustTier::None < TrustTier::Affirming);
        assert!(TrustTier::Affirming < TrustTier::Warning);
        assert!(TrustTier::Warning < TrustTier::Contraindicated);
        assert_eq!(
            serde_json::to_string(&TrustTier::Contraindicated).unwrap(),
            "\"contraindicated\""
        );
        assert_eq!(TrustTier::Warning.to_string(), "warning");
    }

    #[test]
    fn status_is_the_worst_set_claim() {
        let mut vector = TrustVector::default();
        assert_eq!(vector.status(), None);
        vector.set(TrustClaim::Hardware, 2);
        vector.set(TrustClaim::Configuration, 36);
        assert_eq!(vector.status(), Some(TrustTier::Warning));
        vector.set(TrustClaim::Executables, 33);
        vector.set(TrustClaim::SourcedData, 97);
        assert_eq!(vector.status(), Some(TrustTier::Contraindicated));
        assert_eq!(TrustVector::all_no_claim().status(), Some(TrustTier::None));
    }

    #[test]
    fn vector_serialises_set_claims_in_claim_order() {
        let mut vector = TrustVector::default();
        vector.set(TrustClaim::SourcedData, 0);
        vector.set(TrustClaim::Hardware, 97);
        vector.set(TrustClaim::InstanceIdentity, -1);
        assert_eq!(
            serde_json::to_string(&vector).unwrap(),
            r#"{"instance-identity":-1,"hardware":97,"sourced-data":0}"#
        );
        assert_eq!(
            serde_json::to_string(&TrustVector::all_no_claim()).unwrap(),
            r#"{"instance-identity":0,"configuration":0,"executables":0,"file-system":0,"hardware":0,"runtime-opaque":0,"storage-opaque":0,"sourced-data":0}"#
        );
    }

    #[test]
    fn claim_names_round_trip() {
        for claim in TrustClaim::ALL {
            assert_eq!(TrustClaim::from_name(claim.name()), Some(claim));
        }
        assert_eq!(TrustClaim::from_name("file_system"), None);
    }
}
