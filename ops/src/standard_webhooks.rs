//! Standard Webhooks (https://www.standardwebhooks.com) keys, shared by the side that signs (the
//! dispatcher, the simulated integrators) and the side that verifies (ingest's direct route), so
//! both compute one thing: `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed by
//! the bytes of a `whsec_` + base64 secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// The version tag of the only signature scheme the specification defines.
pub const SIGNATURE_VERSION: &str = "v1";

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

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "{SIGNATURE_VERSION},{}",
            base64::engine::general_purpose::STANDARD
                .encode(self.mac(id, timestamp, body).finalize().into_bytes())
        )
    }

    /// Whether `signature` (the decoded bytes after `v1,`) is this key's signature of the
    /// message; compared in constant time.
    pub fn verifies(&self, id: &str, timestamp: i64, body: &[u8], signature: &[u8]) -> bool {
        self.mac(id, timestamp, body)
            .verify_slice(signature)
            .is_ok()
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
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            signature
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&signature[3..])
            .unwrap();
        assert!(secret.verifies("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &bytes));
        assert!(!secret.verifies("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, &bytes));
        assert!(!secret.verifies("msg_other", 1614265330, body, &bytes));
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
