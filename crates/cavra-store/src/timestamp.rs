//! The stores' one time type: an instant in UTC to the millisecond, written as fixed-width
//! RFC 3339 (`2026-12-06T02:10:52.000Z`, always 24 characters), so that text order is time
//! order and the queries of both stores may compare the stored text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The stored form: `[year]-[month]-[day]T[hour]:[minute]:[second].[millis]Z`.
const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// An instant as both stores keep it: UTC, milliseconds, shown and stored as
/// `2026-12-06T02:10:52.000Z` (24 characters, so the text sorts as the time does). Ordered by
/// time; serialised as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A time the stores cannot hold or a text that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(String);

impl TimeError {
    /// An error saying `why`.
    pub fn new(why: impl Into<String>) -> Self {
        TimeError(why.into())
    }
}

impl Timestamp {
    /// Whether the fixed-width form holds `t`'s year.
    fn in_range(t: OffsetDateTime) -> bool {
        (0..=9999).contains(&t.year())
    }

    /// `t` in UTC, to the millisecond below (the stored precision); a year outside
    /// 0000–9999, which the fixed width cannot hold, is refused.
    pub fn at(t: OffsetDateTime) -> Result<Self, TimeError> {
        let t = t.to_offset(time::UtcOffset::UTC);
        let t = t
            .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
            .map_err(|e| TimeError(e.to_string()))?;
        if !Self::in_range(t) {
            return Err(TimeError(format!("{t} is outside the years 0000-9999")));
        }
        Ok(Timestamp(t))
    }

    /// The Unix epoch (`1970-01-01T00:00:00.000Z`).
    pub const EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// `t` as [`Timestamp::at`] keeps it, or the epoch when its year is outside 0000–9999
    /// (what the stores' old formatter showed for one).
    pub fn at_or_epoch(t: OffsetDateTime) -> Self {
        Self::at(t).unwrap_or(Self::EPOCH)
    }

    /// The current time.
    pub fn now() -> Self {
        // The clock is within the years the form holds; the epoch only if it is not.
        Self::at(OffsetDateTime::now_utc()).unwrap_or(Timestamp(OffsetDateTime::UNIX_EPOCH))
    }

    /// Reads any RFC 3339 time (the stored form or another offset or precision), kept to the
    /// millisecond in UTC.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| TimeError(format!("`{s}`: {e}")))?;
        Self::at(t)
    }

    /// The instant.
    pub fn time(self) -> OffsetDateTime {
        self.0
    }

    /// This time plus `d`, when that stays within the years the form holds.
    pub fn checked_add(self, d: time::Duration) -> Option<Self> {
        self.0.checked_add(d).and_then(|t| Self::at(t).ok())
    }

    /// The stored text (24 characters).
    pub fn text(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.format(&FORMAT).map_err(|_| fmt::Error)?;
        // `pad`, so that a width in a format string (`{:<26}`) applies as it does to text.
        f.pad(&s)
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        Timestamp::parse(s)
    }
}

impl TryFrom<OffsetDateTime> for Timestamp {
    type Error = TimeError;
    fn try_from(t: OffsetDateTime) -> Result<Self, TimeError> {
        Timestamp::at(t)
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl PartialEq<str> for Timestamp {
    /// Whether `other` is exactly this time's stored text.
    fn eq(&self, other: &str) -> bool {
        let text = self.to_string();
        text.as_str() == other
    }
}

impl PartialEq<&str> for Timestamp {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl rusqlite::ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
    }
}

impl rusqlite::types::FromSql for Timestamp {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        Timestamp::parse(s).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_stored_form_is_fixed_width_utc_with_milliseconds() {
        let t = Timestamp::parse("2026-12-06T04:10:52.123456+02:00").expect("parse");
        assert_eq!(t.to_string(), "2026-12-06T02:10:52.123Z");
        assert_eq!(
            Timestamp::parse("2026-12-06T02:10:52Z").expect("parse"),
            "2026-12-06T02:10:52.000Z"
        );
        assert_eq!(
            serde_json::to_string(&t).expect("json"),
            "\"2026-12-06T02:10:52.123Z\""
        );
        let back: Timestamp = serde_json::from_str("\"2026-12-06T02:10:52.123Z\"").expect("json");
        assert_eq!(back, t);
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"soon\"").is_err());
    }

    #[test]
    fn it_is_the_old_formatter_to_the_byte() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.678_9 UTC);
        let old = t.format(&FORMAT).expect("format");
        assert_eq!(Timestamp::at(t).expect("at").to_string(), old);
        assert_eq!(crate::format_time(t).expect("format"), old);
    }

    proptest! {
        #[test]
        fn text_order_is_time_order(a in -62_167_219_200_000i64..253_402_300_799_999, b in -62_167_219_200_000i64..253_402_300_799_999) {
            let at = |ms: i64| {
                let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).expect("in range");
                Timestamp::at(t).expect("in range")
            };
            let (ta, tb) = (at(a), at(b));
            prop_assert_eq!(ta.to_string().len(), 24);
            prop_assert_eq!(ta.to_string().cmp(&tb.to_string()), ta.cmp(&tb));
            prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
            prop_assert_eq!(Timestamp::parse(&ta.to_string()).expect("reads back"), ta);
        }
    }
}
