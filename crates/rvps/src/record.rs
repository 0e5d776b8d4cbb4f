//! The stored reference-value record (AS spec §10.3).

use serde::{Deserialize, Serialize};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::error::{Error, Result};

/// The only register-message and record version (AS spec §10.1).
pub const VERSION: &str = "0.1.0";

/// `%Y-%m-%dT%H:%M:%SZ`, the only format upstream writes and reads.
const EXPIRATION_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// One reference value as stored under its name in namespace `reference_value`:
/// `{"version":"0.1.0","name":"svn","expiration":"2027-08-21T09:11:50Z","value":["1"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceValue {
    /// Record version, [`VERSION`].
    pub version: String,
    /// The name policies query it by.
    pub name: String,
    /// When the value stops being served (UTC, whole seconds).
    #[serde(with = "expiration")]
    pub expiration: OffsetDateTime,
    /// The value, any JSON.
    pub value: serde_json::Value,
}

impl ReferenceValue {
    /// A record created at `now`: expiration is `now` with nanoseconds zeroed plus 12 months,
    /// as upstream.
    pub fn new(name: String, value: serde_json::Value, now: OffsetDateTime) -> Result<Self> {
        Ok(Self {
            version: VERSION.to_owned(),
            name,
            expiration: twelve_months_after(now)?,
            value,
        })
    }

    /// Whether the record has expired at `now` (it is still valid at its expiration second).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now > self.expiration
    }
}

/// Adds 12 calendar months; 29 February becomes 28 February, like chrono's `Months` upstream.
fn twelve_months_after(now: OffsetDateTime) -> Result<OffsetDateTime> {
    let now = now
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|_| Error::Expiration)?;
    let year = now.year().checked_add(1).ok_or(Error::Expiration)?;
    let day = now.day().min(time::util::days_in_month(now.month(), year));
    let date = Date::from_calendar_date(year, now.month(), day).map_err(|_| Error::Expiration)?;
    Ok(now.replace_date(date))
}

mod expiration {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

    use super::EXPIRATION_FORMAT;

    pub(super) fn serialize<S: Serializer>(
        value: &OffsetDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = value
            .to_offset(UtcOffset::UTC)
            .format(EXPIRATION_FORMAT)
            .map_err(S::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        PrimitiveDateTime::parse(&text, EXPIRATION_FORMAT)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn serialises_with_upstream_field_names_and_format() {
        let record = ReferenceValue {
            version: VERSION.to_owned(),
            name: "svn".to_owned(),
            expiration: datetime!(2027-08-21 09:11:50 UTC),
            value: json!(["1"]),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            text,
            r#"{"version":"0.1.0","name":"svn","expiration":"2027-08-21T09:11:50Z","value":["1"]}"#
        );
        assert_eq!(
            serde_json::from_str::<ReferenceValue>(&text).unwrap(),
            record
        );
    }

    #[test]
    fn parses_the_epoch() {
        let record: ReferenceValue = serde_json::from_str(
            r#"{"version":"0.1.0","name":"x","expiration":"1970-01-01T00:00:00Z","value":1}"#,
        )
        .unwrap();
        assert_eq!(record.expiration, OffsetDateTime::UNIX_EPOCH);
        assert!(record.is_expired(datetime!(1970-01-01 00:00:01 UTC)));
        assert!(!record.is_expired(OffsetDateTime::UNIX_EPOCH));
    }

    #[test]
    fn rejects_other_timestamp_formats() {
        for bad in [
            "1970-01-01T00:00:00+00:00",
            "1970-01-01 00:00:00",
            "1970-01-01T00:00:00.5Z",
        ] {
            let text =
                format!(r#"{{"version":"0.1.0","name":"x","expiration":"{bad}","value":1}}"#);
            assert!(
                serde_json::from_str::<ReferenceValue>(&text).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn expires_twelve_months_later_on_a_whole_second() {
        let now = datetime!(2026-11-28 14:30:05.123456789 UTC);
        let record = ReferenceValue::new("x".to_owned(), json!(1), now).unwrap();
        assert_eq!(record.expiration, datetime!(2027-11-28 14:30:05 UTC));
        let leap = ReferenceValue::new("x".to_owned(), json!(1), datetime!(2028-02-29 0:00 UTC));
        assert_eq!(leap.unwrap().expiration, datetime!(2029-02-28 0:00 UTC));
        let offset = ReferenceValue::new("x".to_owned(), json!(1), datetime!(2026-12-31 23:00 -2));
        assert_eq!(offset.unwrap().expiration, datetime!(2028-01-01 1:00 UTC));
    }
}
