//! SASL PLAIN (RFC 4616): one message, `\0user\0password`. Only safe over
//! TLS; kafka-pulse allows SASL_PLAINTEXT because Kafka does.

use super::Authenticator;
use crate::security::secret::Secret;

pub struct Plain {
    username: String,
    password: Secret,
    sent: bool,
}

impl Plain {
    pub fn new(username: &str, password: &str) -> Self {
        Plain {
            username: username.to_string(),
            password: Secret::new(password),
            sent: false,
        }
    }
}

impl Authenticator for Plain {
    fn step(&mut self, _server: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        if self.sent {
            // Kafka answers PLAIN with an empty message: done.
            return Ok(None);
        }
        self.sent = true;
        let mut message =
            Vec::with_capacity(self.username.len() + self.password.expose().len() + 2);
        message.push(0);
        message.extend_from_slice(self.username.as_bytes());
        message.push(0);
        message.extend_from_slice(self.password.expose().as_bytes());
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_then_done() {
        let mut plain = Plain::new("alice", "pw");
        assert_eq!(plain.step(None).unwrap(), Some(b"\0alice\0pw".to_vec()));
        assert_eq!(plain.step(Some(b"")).unwrap(), None);
    }
}
