//! FedEx AIV push authentication: header `fdx-signature` = base64(HMAC-SHA256(security token,
//! raw body)). Verified over the raw bytes, in constant time, against every configured token (two
//! during rotation). Only `verify` turns an unverified push into a `VerifiedPush`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use gluey_ops::Secret;

pub const HEADER: &str = "fdx-signature";

/// A push as received: not yet trusted.
#[derive(Debug)]
pub struct UnverifiedPush {
    pub body: bytes::Bytes,
    pub signature: Option<String>,
}

/// A push whose signature matched one of our tokens.
#[derive(Debug)]
pub struct VerifiedPush {
    body: bytes::Bytes,
}

impl VerifiedPush {
    pub fn body(&self) -> &bytes::Bytes {
        &self.body
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing fdx-signature header")]
    Missing,
    #[error("fdx-signature is not base64")]
    Malformed,
    #[error("fdx-signature does not match")]
    Mismatch,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

impl UnverifiedPush {
    pub fn verify(self, secrets: &[Secret]) -> Result<VerifiedPush, SignatureError> {
        let header = self.signature.as_deref().ok_or(SignatureError::Missing)?;
        let claimed = base64::engine::general_purpose::STANDARD
            .decode(header.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let mut matched = false;
        for secret in secrets {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                continue;
            };
            mac.update(&self.body);
            // verify_slice compares in constant time; every secret is tried so timing does not
            // tell which one matched.
            matched |= mac.verify_slice(&claimed).is_ok();
        }
        if matched {
            Ok(VerifiedPush { body: self.body })
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Signs a body as FedEx does (used by the simulator and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(body: &str, signature: Option<String>) -> UnverifiedPush {
        UnverifiedPush {
            body: bytes::Bytes::from(body.to_string()),
            signature,
        }
    }

    #[test]
    fn verifies_with_either_rotating_secret_and_rejects_tampering() {
        let secrets = [Secret::new("old"), Secret::new("new")];
        assert!(push("{}", Some(sign("old", b"{}")))
            .verify(&secrets)
            .is_ok());
        assert!(push("{}", Some(sign("new", b"{}")))
            .verify(&secrets)
            .is_ok());
        assert_eq!(
            push("{ }", Some(sign("new", b"{}")))
                .verify(&secrets)
                .unwrap_err(),
            SignatureError::Mismatch
        );
        assert_eq!(
            push("{}", Some(sign("other", b"{}")))
                .verify(&secrets)
                .unwrap_err(),
            SignatureError::Mismatch
        );
        assert_eq!(
            push("{}", None).verify(&secrets).unwrap_err(),
            SignatureError::Missing
        );
        assert_eq!(
            push("{}", Some("***".into())).verify(&secrets).unwrap_err(),
            SignatureError::Malformed
        );
    }
}
