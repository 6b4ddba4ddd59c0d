//! DHL Unified Push: a static token in a header, both chosen by us and registered in the
//! subscription's `hook.authentication` (`ApiKeyAuthentication`, CARRIERS.md 1.1). Not an HMAC:
//! the body is not covered, so the token is all there is.

use gluey_ops::Secret;

use super::{check_header_credential, AuthError, Authenticator, UnverifiedPush, VerifiedPush};

/// Verifies the configured header against the configured tokens.
#[derive(Debug)]
pub struct DhlToken<'a> {
    pub header: &'a str,
    pub tokens: &'a [Secret],
}

impl Authenticator for DhlToken<'_> {
    fn verify(&self, push: UnverifiedPush<'_>) -> Result<VerifiedPush, AuthError> {
        check_header_credential(
            push.headers,
            self.header,
            self.tokens,
            ("token_missing", "token_mismatch"),
        )?;
        Ok(VerifiedPush::new(push.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn the_configured_header_must_carry_a_configured_token() {
        let tokens = [Secret::new("t-old"), Secret::new("t-new")];
        let verify = |name: &str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            DhlToken {
                header: "X-Gluey-Push-Token",
                tokens: &tokens,
            }
            .verify(UnverifiedPush {
                headers: &headers,
                body: bytes::Bytes::from_static(b"{}"),
            })
        };
        assert!(verify("x-gluey-push-token", "t-old").is_ok());
        assert!(verify("x-gluey-push-token", "t-new").is_ok());
        assert_eq!(
            verify("x-gluey-push-token", "t-other")
                .unwrap_err()
                .reason(),
            "token_mismatch"
        );
        let missing = verify("dhl-api-key", "t-new").unwrap_err();
        assert_eq!(missing.reason(), "token_missing");
        assert_eq!(missing.to_string(), "missing X-Gluey-Push-Token header");
    }
}
