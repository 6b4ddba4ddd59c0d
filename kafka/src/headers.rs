//! Kafka headers the pipeline sets on every record.

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// W3C trace context, carried from the carrier request to the customer delivery.
pub const TRACEPARENT: &str = "traceparent";

pub fn with_traceparent(traceparent: &str) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: TRACEPARENT,
        value: Some(traceparent),
    })
}

/// The value of header `name`, if present and UTF-8.
pub fn header_str<'a, H: Headers>(headers: Option<&'a H>, name: &str) -> Option<&'a str> {
    let headers = headers?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
