//! FedEx AIV: header `fdx-signature` = base64(HMAC-SHA256(project security token, raw body)),
//! verified over the raw bytes, never re-serialised JSON (CARRIERS.md 1.8).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use gluey_ops::Secret;

use super::{header, AuthError, Authenticator, UnverifiedPush, VerifiedPush};

pub const HEADER: &str = "fdx-signature";

/// Verifies `fdx-signature` against the configured security tokens.
#[derive(Debug)]
pub struct FedexSignature<'a> {
    pub secrets: &'a [Secret],
}

impl Authenticator for FedexSignature<'_> {
    fn verify(&self, push: UnverifiedPush<'_>) -> Result<VerifiedPush, AuthError> {
        let claimed = header(push.headers, HEADER).ok_or_else(|| {
            AuthError::new("signature_missing", format!("missing {HEADER} header"))
        })?;
        let claimed = base64::engine::general_purpose::STANDARD
            .decode(claimed.trim())
            .map_err(|_| {
                AuthError::new("signature_malformed", format!("{HEADER} is not base64"))
            })?;
        let mut matched = false;
        for secret in self.secrets {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                continue;
            };
            mac.update(&push.body);
            // verify_slice compares in constant time; every secret is tried so timing does not
            // tell which one matched.
            matched |= mac.verify_slice(&claimed).is_ok();
        }
        if matched {
            Ok(VerifiedPush::new(push.body))
        } else {
            Err(AuthError::new(
                "signature_mismatch",
                format!("{HEADER} does not match"),
            ))
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
    use http::HeaderMap;

    fn verify(body: &str, signature: Option<String>) -> Result<VerifiedPush, AuthError> {
        let secrets = [Secret::new("old"), Secret::new("new")];
        let mut headers = HeaderMap::new();
        if let Some(signature) = signature {
            headers.insert(HEADER, signature.parse().unwrap());
        }
        FedexSignature { secrets: &secrets }.verify(UnverifiedPush {
            headers: &headers,
            body: bytes::Bytes::from(body.to_string()),
        })
    }

    #[test]
    fn verifies_with_either_rotating_secret_and_rejects_tampering() {
        assert_eq!(verify("{}", Some(sign("old", b"{}"))).unwrap().body(), "{}");
        assert!(verify("{}", Some(sign("new", b"{}"))).is_ok());
        let reason = |r: Result<VerifiedPush, AuthError>| r.unwrap_err().reason();
        assert_eq!(
            reason(verify("{ }", Some(sign("new", b"{}")))),
            "signature_mismatch"
        );
        assert_eq!(
            reason(verify("{}", Some(sign("other", b"{}")))),
            "signature_mismatch"
        );
        assert_eq!(reason(verify("{}", None)), "signature_missing");
        assert_eq!(
            reason(verify("{}", Some("***".into()))),
            "signature_malformed"
        );
    }
}
