//! Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`,
//! `webhook-timestamp` (seconds), and `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256
//! over "{id}.{timestamp}.{body}">`, one per valid secret, so receivers keep verifying during a
//! rotation. Secrets are `whsec_` + base64 of the key bytes.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A decoded signing secret; `Debug` never prints the key.
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("must start with whsec_")]
    Prefix,
    #[error("the part after whsec_ is not base64")]
    Base64,
    #[error("key must be 24 to 64 bytes, got {0}")]
    Length(usize),
}

impl SigningSecret {
    pub fn parse(text: &str) -> Result<SigningSecret, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(SigningSecret { key })
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// The three headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

/// Signs with every currently valid secret of an endpoint.
#[derive(Debug, Clone)]
pub struct WebhookSigner {
    /// Each secret with the instant (seconds since the epoch) it stops being used, if any.
    secrets: Vec<(SigningSecret, Option<i64>)>,
}

impl WebhookSigner {
    pub fn new(secrets: Vec<SigningSecret>) -> WebhookSigner {
        WebhookSigner::with_expiry(secrets.into_iter().map(|s| (s, None)).collect())
    }

    /// Secrets with an optional expiry: the old one of a rotation stops signing at its expiry.
    pub fn with_expiry(secrets: Vec<(SigningSecret, Option<i64>)>) -> WebhookSigner {
        WebhookSigner { secrets }
    }

    /// Signs with every secret not expired at `timestamp`; should all have expired, with the
    /// one that expired last, so a message is never sent unsigned.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        let valid: Vec<&SigningSecret> = self
            .secrets
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|at| timestamp < at))
            .map(|(s, _)| s)
            .collect();
        let chosen = if valid.is_empty() {
            self.secrets
                .iter()
                .max_by_key(|(_, expires)| *expires)
                .map(|(s, _)| s)
                .into_iter()
                .collect()
        } else {
            valid
        };
        let signature = chosen
            .iter()
            .map(|s| s.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ");
        SignedHeaders {
            id: id.to_string(),
            timestamp: timestamp.to_string(),
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_test_vector() {
        // The example from the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_with_an_independent_implementation_for_each_secret() {
        let a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let b = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQga2V5IQ==";
        let signer = WebhookSigner::new(vec![
            SigningSecret::parse(a).unwrap(),
            SigningSecret::parse(b).unwrap(),
        ]);
        let now = chrono::Utc::now().timestamp();
        let body = br#"{"type":"tracking.event"}"#;
        let signed = signer.sign("ev_1", now, body);
        for secret in [a, b] {
            let verifier = standardwebhooks::Webhook::new(secret).unwrap();
            let mut headers = http::HeaderMap::new();
            headers.insert("webhook-id", signed.id.parse().unwrap());
            headers.insert("webhook-timestamp", signed.timestamp.parse().unwrap());
            headers.insert("webhook-signature", signed.signature.parse().unwrap());
            verifier.verify(body, &headers).unwrap();
            assert!(verifier
                .verify(br#"{"type":"tampered"}"#, &headers)
                .is_err());
        }
    }

    #[test]
    fn an_expired_secret_stops_signing_at_its_expiry() {
        let old = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let new = SigningSecret::parse("whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQga2V5IQ==").unwrap();
        let signer =
            WebhookSigner::with_expiry(vec![(old.clone(), Some(1_000)), (new.clone(), None)]);
        let before = signer.sign("ev_1", 999, b"{}").signature;
        assert_eq!(
            before,
            format!(
                "{} {}",
                old.sign("ev_1", 999, b"{}"),
                new.sign("ev_1", 999, b"{}")
            )
        );
        assert_eq!(
            signer.sign("ev_1", 1_000, b"{}").signature,
            new.sign("ev_1", 1_000, b"{}")
        );
        // Every secret expired: still signed, with the one that expired last.
        let lapsed = WebhookSigner::with_expiry(vec![(old.clone(), Some(10)), (new, Some(20))]);
        assert_eq!(
            lapsed.sign("ev_1", 30, b"{}").signature.split(' ').count(),
            1
        );
    }

    #[test]
    fn bad_secrets_are_named() {
        assert_eq!(
            SigningSecret::parse("abc").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            SigningSecret::parse("whsec_***").unwrap_err(),
            SecretError::Base64
        );
        assert_eq!(
            SigningSecret::parse("whsec_YWJj").unwrap_err(),
            SecretError::Length(3)
        );
    }
}
