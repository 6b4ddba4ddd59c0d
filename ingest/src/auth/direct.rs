//! Direct integrators sign as Standard Webhooks: `webhook-id`, `webhook-timestamp` (seconds) and
//! `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! one per secret the sender holds), keyed by our `whsec_` secrets. A signature that matches but
//! whose timestamp is further than the tolerance from our clock, either way, is refused: that
//! bounds how long a captured request can be replayed, and with it how long the route must
//! remember accepted `webhook-id`s.

use std::time::Duration;

use base64::Engine;
use gluey_ops::standard_webhooks::{SigningSecret, SIGNATURE_VERSION};

use super::{header, AuthError, Authenticator, UnverifiedPush, VerifiedPush};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Longer ids are refused: they are remembered, so their size is bounded.
pub const MAX_ID_BYTES: usize = 256;
/// Signatures looked at per request; a sender holds at most a few secrets.
const MAX_SIGNATURES: usize = 8;

/// Verifies a Standard Webhooks signature and its timestamp.
#[derive(Debug)]
pub struct StandardWebhooksSignature {
    pub secrets: Vec<SigningSecret>,
    pub tolerance: Duration,
    /// Our clock in seconds since the epoch (a parameter so that tests can move it).
    pub now: i64,
}

impl Authenticator for StandardWebhooksSignature {
    fn verify(&self, push: UnverifiedPush<'_>) -> Result<VerifiedPush, AuthError> {
        let id = header(push.headers, ID_HEADER)
            .ok_or_else(|| AuthError::new("id_missing", format!("missing {ID_HEADER} header")))?;
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(AuthError::new(
                "id_malformed",
                format!("{ID_HEADER} must be 1 to {MAX_ID_BYTES} bytes"),
            ));
        }
        let timestamp = header(push.headers, TIMESTAMP_HEADER).ok_or_else(|| {
            AuthError::new(
                "timestamp_missing",
                format!("missing {TIMESTAMP_HEADER} header"),
            )
        })?;
        let timestamp: i64 = timestamp.trim().parse().map_err(|_| {
            AuthError::new(
                "timestamp_malformed",
                format!("{TIMESTAMP_HEADER} is not whole seconds since the epoch"),
            )
        })?;
        let signatures = header(push.headers, SIGNATURE_HEADER).ok_or_else(|| {
            AuthError::new(
                "signature_missing",
                format!("missing {SIGNATURE_HEADER} header"),
            )
        })?;
        let candidates: Vec<Vec<u8>> = signatures
            .split_whitespace()
            .filter_map(|s| s.split_once(','))
            .filter(|(version, _)| *version == SIGNATURE_VERSION)
            .filter_map(|(_, encoded)| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .take(MAX_SIGNATURES)
            .collect();
        if candidates.is_empty() {
            return Err(AuthError::new(
                "signature_malformed",
                format!("{SIGNATURE_HEADER} holds no {SIGNATURE_VERSION},<base64> signature"),
            ));
        }
        let mut matched = false;
        // Every secret against every signature: timing does not tell which one matched.
        for secret in &self.secrets {
            for candidate in &candidates {
                matched |= secret.verifies(id, timestamp, &push.body, candidate);
            }
        }
        if !matched {
            return Err(AuthError::new(
                "signature_mismatch",
                format!("{SIGNATURE_HEADER} does not match"),
            ));
        }
        let tolerance = self.tolerance.as_secs();
        if self.now.abs_diff(timestamp) > tolerance {
            return Err(if timestamp < self.now {
                AuthError::new(
                    "timestamp_too_old",
                    format!("{TIMESTAMP_HEADER} is more than {tolerance}s in the past"),
                )
            } else {
                AuthError::new(
                    "timestamp_too_new",
                    format!("{TIMESTAMP_HEADER} is more than {tolerance}s in the future"),
                )
            });
        }
        Ok(VerifiedPush {
            body: push.body,
            delivery_id: Some(id.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW: &str = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQga2V5IQ==";
    const NOW: i64 = 1_717_400_000;
    const BODY: &[u8] = br#"{"schema":"gluey.direct.v1","shipments":[]}"#;

    fn verifier() -> StandardWebhooksSignature {
        StandardWebhooksSignature {
            secrets: vec![
                SigningSecret::parse(OLD).unwrap(),
                SigningSecret::parse(NEW).unwrap(),
            ],
            tolerance: Duration::from_secs(300),
            now: NOW,
        }
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (ID_HEADER, id),
            (TIMESTAMP_HEADER, timestamp),
            (SIGNATURE_HEADER, signature),
        ] {
            if !value.is_empty() {
                headers.insert(name, value.parse().unwrap());
            }
        }
        headers
    }

    fn verify(headers: &HeaderMap, body: &[u8]) -> Result<VerifiedPush, AuthError> {
        verifier().verify(UnverifiedPush {
            headers,
            body: bytes::Bytes::copy_from_slice(body),
        })
    }

    fn signed(secret: &str, id: &str, at: i64, body: &[u8]) -> HeaderMap {
        let signature = SigningSecret::parse(secret).unwrap().sign(id, at, body);
        headers(id, &at.to_string(), &signature)
    }

    fn reason(headers: &HeaderMap, body: &[u8]) -> &'static str {
        verify(headers, body).unwrap_err().reason()
    }

    #[test]
    fn either_rotating_secret_verifies_and_the_id_is_kept() {
        for secret in [OLD, NEW] {
            let verified = verify(&signed(secret, "msg_1", NOW, BODY), BODY).unwrap();
            assert_eq!(verified.delivery_id(), Some("msg_1"));
            assert_eq!(verified.body(), BODY);
        }
        // A sender holding both secrets sends both signatures; an unknown version is skipped.
        let both = format!(
            "v1a,ignored {} {}",
            SigningSecret::parse("whsec_YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=")
                .unwrap()
                .sign("msg_2", NOW, BODY),
            SigningSecret::parse(NEW).unwrap().sign("msg_2", NOW, BODY)
        );
        assert!(verify(&headers("msg_2", &NOW.to_string(), &both), BODY).is_ok());
    }

    #[test]
    fn tampering_and_wrong_or_missing_parts_are_refused() {
        let good = signed(NEW, "msg_1", NOW, BODY);
        assert_eq!(reason(&good, b"{}"), "signature_mismatch");
        let other_id = headers(
            "msg_2",
            &NOW.to_string(),
            good[SIGNATURE_HEADER].to_str().unwrap(),
        );
        assert_eq!(reason(&other_id, BODY), "signature_mismatch");
        let other_secret = signed(
            "whsec_YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=",
            "msg_1",
            NOW,
            BODY,
        );
        assert_eq!(reason(&other_secret, BODY), "signature_mismatch");
        assert_eq!(reason(&headers("", "1", "v1,AAAA"), BODY), "id_missing");
        assert_eq!(
            reason(
                &headers(&"x".repeat(MAX_ID_BYTES + 1), "1", "v1,AAAA"),
                BODY
            ),
            "id_malformed"
        );
        assert_eq!(
            reason(&headers("msg_1", "", "v1,AAAA"), BODY),
            "timestamp_missing"
        );
        assert_eq!(
            reason(&headers("msg_1", "yesterday", "v1,AAAA"), BODY),
            "timestamp_malformed"
        );
        assert_eq!(
            reason(&headers("msg_1", &NOW.to_string(), ""), BODY),
            "signature_missing"
        );
        assert_eq!(
            reason(&headers("msg_1", &NOW.to_string(), "v2,AAAA v1,***"), BODY),
            "signature_malformed"
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_either_way() {
        assert!(verify(&signed(NEW, "m", NOW - 300, BODY), BODY).is_ok());
        assert!(verify(&signed(NEW, "m", NOW + 300, BODY), BODY).is_ok());
        assert_eq!(
            reason(&signed(NEW, "m", NOW - 301, BODY), BODY),
            "timestamp_too_old"
        );
        assert_eq!(
            reason(&signed(NEW, "m", NOW + 301, BODY), BODY),
            "timestamp_too_new"
        );
        assert_eq!(
            reason(&signed(NEW, "m", i64::MIN, BODY), BODY),
            "timestamp_too_old"
        );
    }
}
