//! W3C trace context (`traceparent`): started at the carrier request (or taken from it when the
//! carrier sends one), carried in Kafka headers, and sent on to the customer.

use rand::Rng;

fn valid_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// Whether `s` is a well-formed version-00 `traceparent`.
pub fn is_valid_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [version, trace, span, flags]
        if *version == "00" && valid_hex(trace, 32) && valid_hex(span, 16) && flags.len() == 2 && flags.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new trace with a new root span, sampled.
pub fn new_traceparent() -> String {
    let mut rng = rand::rng();
    format!(
        "00-{:032x}-{:016x}-01",
        rng.random::<u128>().max(1),
        rng.random::<u64>().max(1)
    )
}

/// The incoming trace when it is well formed, else a new one.
pub fn continue_or_start(incoming: Option<&str>) -> String {
    match incoming {
        Some(t) if is_valid_traceparent(t) => t.to_string(),
        _ => new_traceparent(),
    }
}

/// The 32-hex trace id inside a `traceparent` (for logs).
pub fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or(traceparent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_traceparents_are_valid_and_garbage_is_replaced() {
        let t = new_traceparent();
        assert!(is_valid_traceparent(&t), "{t}");
        assert_eq!(continue_or_start(Some(&t)), t);
        assert_ne!(continue_or_start(Some("00-zz-1-01")), "00-zz-1-01");
        assert!(!is_valid_traceparent(
            "00-00000000000000000000000000000000-0000000000000001-01"
        ));
        assert_eq!(trace_id(&t).len(), 32);
    }
}
