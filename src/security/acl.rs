//! What a Kafka authorization error means for the operator: which ACL the
//! principal kafka-pulse connects as lacks, and the `kafka-acls` line that
//! grants it. One wording for the collector's own client (which needs only
//! DESCRIBE) and the rdkafka users (message browser, exact time lag and
//! replay, which need READ and WRITE), so the README's "Minimal ACLs" table
//! and the messages agree.

/// A Kafka ACL resource type, as `kafka-acls` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cluster,
    Topic,
    Group,
}

/// An ACL operation kafka-pulse needs somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Describe,
    Read,
    Write,
}

impl Resource {
    fn title(self) -> &'static str {
        match self {
            Resource::Cluster => "Cluster",
            Resource::Topic => "Topic",
            Resource::Group => "Group",
        }
    }
}

impl Operation {
    fn upper(self) -> &'static str {
        match self {
            Operation::Describe => "DESCRIBE",
            Operation::Read => "READ",
            Operation::Write => "WRITE",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Operation::Describe => "Describe",
            Operation::Read => "Read",
            Operation::Write => "Write",
        }
    }
}

/// Whether an rdkafka client's error is the broker refusing a topic for lack
/// of an ACL (the message browser, exact time lag and replay ask this).
pub fn topic_refused(error: &rdkafka::error::KafkaError) -> bool {
    error.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::TopicAuthorizationFailed)
}

/// The collector's reading of a Kafka authorization error code (its own
/// client asks only what DESCRIBE allows): `None` for other codes.
pub fn collector_hint(code: i16) -> Option<&'static str> {
    match code {
        29 => Some("the principal lacks Topic DESCRIBE on it (README: Minimal ACLs)"),
        30 => Some("the principal lacks Group DESCRIBE on it (README: Minimal ACLs)"),
        31 => Some("the principal lacks Cluster DESCRIBE (README: Minimal ACLs)"),
        _ => None,
    }
}

/// "the principal lacks Topic READ on "orders"; grant it with kafka-acls
/// --add --allow-principal User:NAME --operation Read --topic orders".
/// `name` is the topic or group (`None` for the cluster); it is quoted with
/// escapes, so an odd name cannot bend the sentence.
pub fn lacks(resource: Resource, operation: Operation, name: Option<&str>) -> String {
    let target = match (resource, name) {
        (Resource::Cluster, _) | (_, None) => "--cluster".to_string(),
        (Resource::Topic, Some(name)) => format!("--topic {}", shell_word(name)),
        (Resource::Group, Some(name)) => format!("--group {}", shell_word(name)),
    };
    let on = match name {
        Some(name) if resource != Resource::Cluster => format!(" on {name:?}"),
        _ => String::new(),
    };
    format!(
        "the principal lacks {} {}{on}; grant it with kafka-acls --add --allow-principal \
         User:NAME --operation {} {target} (README: Minimal ACLs)",
        resource.title(),
        operation.upper(),
        operation.flag(),
    )
}

/// `word` as one shell word: bare when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if plain {
        word.to_string()
    } else if word.chars().any(char::is_control) {
        // Bash's $'…' reads the escapes, and the line stays one line.
        format!("$'{}'", word.escape_default())
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_acl_and_the_grant_command() {
        assert_eq!(
            lacks(Resource::Topic, Operation::Read, Some("orders")),
            "the principal lacks Topic READ on \"orders\"; grant it with kafka-acls --add \
             --allow-principal User:NAME --operation Read --topic orders (README: Minimal ACLs)"
        );
        let cluster = lacks(Resource::Cluster, Operation::Describe, None);
        assert!(cluster.contains("Cluster DESCRIBE;"), "{cluster}");
        assert!(
            cluster.contains("--operation Describe --cluster"),
            "{cluster}"
        );
    }

    #[test]
    fn odd_names_stay_one_quoted_word() {
        let text = lacks(Resource::Group, Operation::Describe, Some("it's\nodd"));
        assert!(text.contains(r#"on "it's\nodd""#), "{text}");
        assert!(text.contains(r"--group $'it\'s\nodd'"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        let text = lacks(Resource::Topic, Operation::Read, Some("a b'c"));
        assert!(text.contains(r"--topic 'a b'\''c'"), "{text}");
    }

    #[test]
    fn only_authorization_codes_get_a_hint() {
        assert!(collector_hint(29).unwrap().contains("Topic DESCRIBE"));
        assert!(collector_hint(30).unwrap().contains("Group DESCRIBE"));
        assert!(collector_hint(31).unwrap().contains("Cluster DESCRIBE"));
        assert_eq!(collector_hint(0), None);
        assert_eq!(collector_hint(16), None);
    }
}
