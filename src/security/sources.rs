//! Where Kafka client properties come from, weakest first: the `[kafka]`
//! table of the TOML file, a Java `client.properties` file
//! (`--kafka-properties`), `KAFKA_PULSE_KAFKA_*` environment variables
//! (with `_FILE` variants for secrets, Docker-secrets style), and
//! `--kafka-property KEY=VALUE` flags. A later source wins per key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::secret::is_secret_key;

/// The properties with a `KAFKA_PULSE_KAFKA_<KEY>` environment variable.
pub const ENV_KEYS: [&str; 17] = [
    "security.protocol",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.token.file",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.scope",
    // Amazon MSK IAM's region (security/msk_iam.rs).
    "aws.region",
];

/// The secrets that may also come from a file named by `..._FILE`.
pub const SECRET_ENV_KEYS: [&str; 4] = [
    "ssl.key.password",
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.secret",
];

/// The flags, shared by the dashboard and the replay/export/import commands.
#[derive(Default, Clone, clap::Args)]
pub struct KafkaPropertyArgs {
    /// A Kafka client property by its Kafka name, e.g.
    /// security.protocol=SASL_SSL or sasl.mechanism=SCRAM-SHA-512;
    /// repeatable. Secrets are better passed through
    /// KAFKA_PULSE_KAFKA_SASL_PASSWORD (or ..._FILE) than on the command
    /// line. See README "Connecting to a secured cluster"
    #[arg(
        long = "kafka-property",
        value_name = "KEY=VALUE",
        help_heading = "Kafka security"
    )]
    pub kafka_property: Vec<String>,

    /// A Java client.properties file (the one Kafka's own tools use):
    /// security.protocol, ssl.*, sasl.* including sasl.jaas.config.
    /// Single keys also come from KAFKA_PULSE_KAFKA_<KEY> variables, e.g.
    /// KAFKA_PULSE_KAFKA_SASL_USERNAME, KAFKA_PULSE_KAFKA_SASL_PASSWORD or
    /// KAFKA_PULSE_KAFKA_SASL_PASSWORD_FILE (a file holding it)
    #[arg(
        long = "kafka-properties",
        env = "KAFKA_PULSE_KAFKA_PROPERTIES",
        value_name = "FILE",
        help_heading = "Kafka security"
    )]
    pub kafka_properties: Option<PathBuf>,
}

impl std::fmt::Debug for KafkaPropertyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .kafka_property
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_key(key.trim()) => format!("{}=<redacted>", key.trim()),
                _ => pair.clone(),
            })
            .collect();
        f.debug_struct("KafkaPropertyArgs")
            .field("kafka_property", &shown)
            .field("kafka_properties", &self.kafka_properties)
            .finish()
    }
}

/// One property's value and where it was set (for error messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Property {
    pub value: String,
    pub source: String,
}

/// Properties by key (ordered, so errors and logs are stable).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PropertySet {
    pub entries: BTreeMap<String, Property>,
}

impl std::fmt::Debug for PropertySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, property) in &self.entries {
            if is_secret_key(key) {
                map.entry(key, &"<redacted>");
            } else {
                map.entry(key, &property.value);
            }
        }
        map.finish()
    }
}

impl PropertySet {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|p| p.value.as_str())
    }

    pub fn source(&self, key: &str) -> &str {
        self.entries.get(key).map_or("", |p| p.source.as_str())
    }

    pub fn set(&mut self, key: &str, value: &str, source: impl Into<String>) {
        self.entries.insert(
            key.to_string(),
            Property {
                value: value.to_string(),
                source: source.into(),
            },
        );
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the TOML file says: `kafka_properties = "FILE"` and a `[kafka]`
/// table of properties by their Kafka names.
#[derive(Debug, Default)]
pub struct FileSettings<'a> {
    pub table: Option<&'a BTreeMap<String, toml::Value>>,
    pub properties_file: Option<&'a Path>,
}

/// Gathers every source into one set; `env` reads an environment variable
/// (a parameter so tests need not touch the process environment).
pub fn collect(
    args: &KafkaPropertyArgs,
    file: FileSettings<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PropertySet, String> {
    let mut set = PropertySet::default();
    if let Some(table) = file.table {
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::new();
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s.clone()),
                            _ => {
                                return Err(format!(
                                    "[kafka] {key}: a list may hold strings only"
                                ))
                            }
                        }
                    }
                    parts.join(",")
                }
                _ => {
                    return Err(format!(
                        "[kafka] {key} must be a string, number, boolean or list of strings \
                         (a property name with dots is written in quotes: \"ssl.ca.location\" = \"...\")"
                    ))
                }
            };
            set.set(key, &text, "[kafka] in the config file");
        }
    }
    let properties_file = args.kafka_properties.as_deref().or(file.properties_file);
    if let Some(path) = properties_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --kafka-properties {}: {e}", path.display()))?;
        let entries = super::properties::parse(&text)
            .map_err(|e| format!("--kafka-properties {} {e}", path.display()))?;
        for entry in entries {
            set.set(
                &entry.key,
                &entry.value,
                format!("{} line {}", path.display(), entry.line),
            );
        }
    }
    for key in ENV_KEYS {
        let name = env_name(key);
        if let Some(value) = env(&name) {
            set.set(key, &value, name);
        }
    }
    for key in SECRET_ENV_KEYS {
        let name = format!("{}_FILE", env_name(key));
        if let Some(path) = env(&name) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {name} ({path}): {e}"))?;
            // Files written by `echo` end with a newline that is not part of it.
            let value = text.strip_suffix('\n').unwrap_or(&text);
            let value = value.strip_suffix('\r').unwrap_or(value);
            set.set(key, value, name);
        }
    }
    for pair in &args.kafka_property {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "--kafka-property must be KEY=VALUE such as security.protocol=SASL_SSL, got '{}'",
                if is_secret_key(pair) {
                    "<redacted>"
                } else {
                    pair
                }
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err("--kafka-property has an empty KEY before `=`".into());
        }
        set.set(key, value, "--kafka-property");
    }
    Ok(set)
}

/// `sasl.password` → `KAFKA_PULSE_KAFKA_SASL_PASSWORD`.
pub fn env_name(key: &str) -> String {
    format!(
        "KAFKA_PULSE_KAFKA_{}",
        key.to_ascii_uppercase().replace(['.', '-'], "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn later_sources_win_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "security.protocol=SASL_SSL\nsasl.username=from-file\nsasl.mechanism=PLAIN\n",
        )
        .unwrap();
        let table: BTreeMap<String, toml::Value> = toml::from_str(
            "\"security.protocol\" = \"SSL\"\n\"sasl.username\" = \"from-toml\"\n\"ssl.ca.location\" = \"/ca.pem\"\n\"socket.timeout.ms\" = 1000\n",
        )
        .unwrap();
        let args = KafkaPropertyArgs {
            kafka_property: vec!["sasl.mechanism=SCRAM-SHA-512".into()],
            kafka_properties: Some(file.clone()),
        };
        let env =
            |name: &str| (name == "KAFKA_PULSE_KAFKA_SASL_USERNAME").then(|| "from-env".into());
        let set = collect(
            &args,
            FileSettings {
                table: Some(&table),
                properties_file: None,
            },
            &env,
        )
        .unwrap();
        assert_eq!(set.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(
            set.source("security.protocol"),
            format!("{} line 1", file.display())
        );
        assert_eq!(set.get("sasl.username"), Some("from-env"));
        assert_eq!(
            set.source("sasl.username"),
            "KAFKA_PULSE_KAFKA_SASL_USERNAME"
        );
        assert_eq!(set.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(set.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(set.get("socket.timeout.ms"), Some("1000"));
    }

    #[test]
    fn secrets_from_files_named_by_environment_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "hunter2\n").unwrap();
        let path = file.display().to_string();
        let env = move |name: &str| {
            (name == "KAFKA_PULSE_KAFKA_SASL_PASSWORD_FILE").then(|| path.clone())
        };
        let set = collect(&KafkaPropertyArgs::default(), FileSettings::default(), &env).unwrap();
        assert_eq!(set.get("sasl.password"), Some("hunter2"));
        assert!(!format!("{set:?}").contains("hunter2"));
    }

    #[test]
    fn bad_flags_and_files_are_errors_without_secrets() {
        let args = KafkaPropertyArgs {
            kafka_property: vec!["sasl.password".into()],
            kafka_properties: None,
        };
        let error = collect(&args, FileSettings::default(), &no_env).unwrap_err();
        assert!(error.contains("KEY=VALUE"), "{error}");
        let args = KafkaPropertyArgs {
            kafka_property: vec!["sasl.password=hunter2".into()],
            kafka_properties: None,
        };
        assert!(!format!("{args:?}").contains("hunter2"));
        let args = KafkaPropertyArgs {
            kafka_property: vec![],
            kafka_properties: Some("/nonexistent/client.properties".into()),
        };
        let error = collect(&args, FileSettings::default(), &no_env).unwrap_err();
        assert!(error.contains("/nonexistent/client.properties"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.properties");
        std::fs::write(&file, "a=1\nsasl.password=x\\uZZZZ\n").unwrap();
        let args = KafkaPropertyArgs {
            kafka_property: vec![],
            kafka_properties: Some(file),
        };
        let error = collect(&args, FileSettings::default(), &no_env).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn env_names_follow_the_property_names() {
        assert_eq!(env_name("sasl.password"), "KAFKA_PULSE_KAFKA_SASL_PASSWORD");
        assert_eq!(
            env_name("ssl.endpoint.identification.algorithm"),
            "KAFKA_PULSE_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"
        );
    }
}
