//! Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`,
//! `webhook-timestamp` (seconds), and `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256
//! over "{id}.{timestamp}.{body}">`, one per valid secret, so receivers keep verifying during a
//! rotation. Secrets are `whsec_` + base64 of the key bytes; the key and the signature itself are
//! `gluey_ops::standard_webhooks`, shared with the side that verifies.

pub use gluey_ops::standard_webhooks::{SecretError, SigningSecret};

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
    secrets: Vec<SigningSecret>,
}

impl WebhookSigner {
    pub fn new(secrets: Vec<SigningSecret>) -> WebhookSigner {
        WebhookSigner { secrets }
    }

    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        let signature = self
            .secrets
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
}
