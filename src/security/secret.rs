//! A value that must never reach a log, a page, the API or an error
//! message: its `Debug` says `<redacted>` and it has no `Display`.

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it to Kafka.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Kafka property names whose values are secrets: passwords, the JAAS line
/// (it holds the password), OAuth client secrets and tokens, inline private
/// keys. Judged by name so a key we do not know yet is hidden too.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.contains("jaas")
        || key.contains("token")
        || key.contains("credential")
        || key.contains("user.info")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key.ends_with(".key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(<redacted>)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn secret_keys_by_name() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.truststore.password",
            "sasl.jaas.config",
            "sasl.oauthbearer.client.secret",
            "basic.auth.user.info",
            "ssl.key.pem",
            "ssl.keystore.key",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["sasl.username", "security.protocol", "ssl.key.location"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
