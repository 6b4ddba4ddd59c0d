//! Serde adapters between `chrono` UTC times and Avro's `timestamp-micros` (a long).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serializer};

fn from_micros<E: serde::de::Error>(micros: i64) -> Result<DateTime<Utc>, E> {
    Utc.timestamp_micros(micros)
        .single()
        .ok_or_else(|| E::custom(format!("timestamp {micros} µs is out of range")))
}

/// `#[serde(with = "gluey_contract::time::micros")]` on a `DateTime<Utc>` field.
pub mod micros {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp_micros())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        from_micros(i64::deserialize(d)?)
    }
}

/// `#[serde(with = "gluey_contract::time::micros_opt")]` on an `Option<DateTime<Utc>>` field.
pub mod micros_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.timestamp_micros()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<i64>::deserialize(d)?.map(from_micros).transpose()
    }
}
