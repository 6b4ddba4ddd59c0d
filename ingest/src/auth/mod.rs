//! Push authentication, one small authenticator per scheme: FedEx's `fdx-signature` HMAC over the
//! raw body, UPS's credential headers, DHL's static header token, and Standard Webhooks
//! signatures for direct integrators. Every comparison with a secret is constant-time and tries
//! every configured secret (two during a rotation), so timing tells neither whether nor which one
//! matched. The invariant: only `Authenticator::verify` turns an `UnverifiedPush` into a
//! `VerifiedPush`, so an unauthenticated body cannot reach the producer.

pub mod dhl;
pub mod direct;
pub mod fedex;
pub mod ups;

use bytes::Bytes;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use gluey_ops::Secret;

/// A push as received: not yet trusted.
#[derive(Debug)]
pub struct UnverifiedPush<'a> {
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// A push whose credential matched one of ours.
#[derive(Debug)]
pub struct VerifiedPush {
    body: Bytes,
    delivery_id: Option<String>,
}

impl VerifiedPush {
    fn new(body: Bytes) -> VerifiedPush {
        VerifiedPush {
            body,
            delivery_id: None,
        }
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The sender's id of this delivery, stable across its retries (`webhook-id`), where the
    /// scheme has one.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }
}

/// Why a push was not authenticated: a bounded `reason` (the metric label) and a message for the
/// sender that names the header but never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    reason: &'static str,
    message: String,
}

impl AuthError {
    fn new(reason: &'static str, message: impl Into<String>) -> AuthError {
        AuthError {
            reason,
            message: message.into(),
        }
    }

    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// One authentication scheme.
pub trait Authenticator: Send + Sync {
    fn verify(&self, push: UnverifiedPush<'_>) -> Result<VerifiedPush, AuthError>;
}

/// A header's value, when present and visible ASCII.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `presented` equals one of `secrets`. Both sides are hashed first so that the
/// constant-time comparison does not leak the secret's length; every secret is compared.
fn matches_any(presented: &str, secrets: &[Secret]) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        matched |= Sha256::digest(secret.expose().as_bytes()).ct_eq(&presented);
    }
    matched.into()
}

/// A credential carried as-is in a header: missing → `<what>_missing`, different from every
/// configured value → `<what>_mismatch`.
fn check_header_credential(
    headers: &HeaderMap,
    name: &str,
    secrets: &[Secret],
    (missing, mismatch): (&'static str, &'static str),
) -> Result<(), AuthError> {
    let presented = header(headers, name)
        .ok_or_else(|| AuthError::new(missing, format!("missing {name} header")))?;
    if matches_any(presented.trim(), secrets) {
        Ok(())
    } else {
        Err(AuthError::new(mismatch, format!("{name} does not match")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_any_configured_secret_only() {
        let secrets = [Secret::new("old-token"), Secret::new("new-token")];
        assert!(matches_any("old-token", &secrets));
        assert!(matches_any("new-token", &secrets));
        assert!(!matches_any("new-token ", &secrets));
        assert!(!matches_any("new", &secrets));
        assert!(!matches_any("", &secrets));
        assert!(!matches_any("new-token", &[]));
    }
}
