//! SASL OAUTHBEARER (RFC 7628), the client side Kafka speaks (KIP-255):
//! one client initial response `n,,\x01auth=Bearer <token>\x01\x01`. The
//! broker answers an accepted token with an empty message; a refused one
//! with a JSON status (`{"status":"invalid_token", ...}`, RFC 7628 §3.2.2),
//! which becomes the error instead of the broker's generic one.

use super::Authenticator;
use crate::security::secret::Secret;

pub struct OAuthBearer {
    token: Secret,
    sent: bool,
}

impl OAuthBearer {
    pub fn new(token: Secret) -> Self {
        OAuthBearer { token, sent: false }
    }
}

/// What a refusal's JSON says, never echoing anything else it holds.
fn refusal(server: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(server) else {
        return "the broker refused the token (its answer is not RFC 7628 JSON)".into();
    };
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut text = format!(
        "the broker refused the token: status {}",
        field("status").unwrap_or_else(|| "unknown".into())
    );
    if let Some(scope) = field("scope") {
        text.push_str(&format!(", required scope '{scope}'"));
    }
    text
}

impl Authenticator for OAuthBearer {
    fn step(&mut self, server: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        if self.sent {
            return match server {
                None | Some([]) => Ok(None),
                Some(answer) => Err(refusal(answer)),
            };
        }
        self.sent = true;
        let mut message = Vec::with_capacity(self.token.expose().len() + 24);
        message.extend_from_slice(b"n,,\x01auth=Bearer ");
        message.extend_from_slice(self.token.expose().as_bytes());
        message.extend_from_slice(b"\x01\x01");
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_response_then_done_on_an_empty_answer() {
        let mut mechanism = OAuthBearer::new(Secret::new("eyJ.x.y"));
        assert_eq!(
            mechanism.step(None).unwrap(),
            Some(b"n,,\x01auth=Bearer eyJ.x.y\x01\x01".to_vec())
        );
        assert_eq!(mechanism.step(Some(b"")).unwrap(), None);
    }

    #[test]
    fn a_json_status_is_the_error_and_nothing_else_is_echoed() {
        let mut mechanism = OAuthBearer::new(Secret::new("tok"));
        mechanism.step(None).unwrap();
        let error = mechanism
            .step(Some(
                br#"{"status":"invalid_token","scope":"kafka","openid-configuration":"x"}"#,
            ))
            .unwrap_err();
        assert_eq!(
            error,
            "the broker refused the token: status invalid_token, required scope 'kafka'"
        );
        let mut mechanism = OAuthBearer::new(Secret::new("tok"));
        mechanism.step(None).unwrap();
        let error = mechanism.step(Some(b"\xff tok")).unwrap_err();
        assert!(!error.contains("tok\""), "{error}");
        assert!(error.contains("not RFC 7628 JSON"), "{error}");
    }
}
