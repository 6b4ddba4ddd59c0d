//! UPS Track Alert v2: every callback carries `x-api-key: <OAuth client id of our UPS app>` and
//! the credential we registered for the subscription, in the header we configure (CARRIERS.md
//! 1.7 and 3: `credential` in community code; UPS does not document the v2 name). Both must
//! match; neither is an HMAC, so the body is not covered.

use gluey_ops::Secret;

use super::{check_header_credential, AuthError, Authenticator, UnverifiedPush, VerifiedPush};

pub const API_KEY_HEADER: &str = "x-api-key";

/// Verifies `x-api-key` and the credential header.
#[derive(Debug)]
pub struct UpsCredential<'a> {
    pub api_keys: &'a [Secret],
    pub credential_header: &'a str,
    pub credentials: &'a [Secret],
}

impl Authenticator for UpsCredential<'_> {
    fn verify(&self, push: UnverifiedPush<'_>) -> Result<VerifiedPush, AuthError> {
        check_header_credential(
            push.headers,
            API_KEY_HEADER,
            self.api_keys,
            ("api_key_missing", "api_key_mismatch"),
        )?;
        check_header_credential(
            push.headers,
            self.credential_header,
            self.credentials,
            ("credential_missing", "credential_mismatch"),
        )?;
        Ok(VerifiedPush::new(push.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn verify(pairs: &[(&str, &str)]) -> Result<VerifiedPush, AuthError> {
        let (keys, credentials) = (
            [Secret::new("client-id")],
            [Secret::new("old-cred"), Secret::new("new-cred")],
        );
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        UpsCredential {
            api_keys: &keys,
            credential_header: "credential",
            credentials: &credentials,
        }
        .verify(UnverifiedPush {
            headers: &headers,
            body: bytes::Bytes::from_static(b"{}"),
        })
    }

    #[test]
    fn both_headers_must_match() {
        assert!(verify(&[("x-api-key", "client-id"), ("credential", "old-cred")]).is_ok());
        assert!(verify(&[("X-API-Key", "client-id"), ("Credential", "new-cred")]).is_ok());
        let reason = |pairs: &[(&str, &str)]| verify(pairs).unwrap_err().reason();
        assert_eq!(reason(&[("credential", "old-cred")]), "api_key_missing");
        assert_eq!(
            reason(&[("x-api-key", "other"), ("credential", "old-cred")]),
            "api_key_mismatch"
        );
        assert_eq!(reason(&[("x-api-key", "client-id")]), "credential_missing");
        let wrong =
            verify(&[("x-api-key", "client-id"), ("credential", "old-cred-x")]).unwrap_err();
        assert_eq!(wrong.reason(), "credential_mismatch");
        assert_eq!(wrong.to_string(), "credential does not match");
    }
}
