//! A reader for Java `.properties` files (the `client.properties` operators
//! already have for Kafka's own tools), following `java.util.Properties.load`:
//! `#`/`!` comment lines, `key=value`, `key: value` and `key value`,
//! a trailing `\` continuing a line (leading blanks of the next line
//! dropped), and the escapes `\t \n \r \f \uXXXX` and `\<any char>`.
//!
//! Errors name the line and never quote a value (values may be passwords).

/// One `key=value` of a file, with the line it starts on.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are often secrets; the key and line are enough to debug.
        write!(f, "Entry({} at line {})", self.key, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every entry of `text` in file order (a later duplicate key is kept too:
/// the caller decides, like Java, that the last one wins).
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut entries = Vec::new();
    let natural: Vec<&str> = split_natural_lines(text);
    let mut index = 0;
    while index < natural.len() {
        let first = index;
        let line = natural[index].trim_start_matches([' ', '\t', '\x0c']);
        index += 1;
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            // A comment never continues, even when it ends with `\`.
            continue;
        }
        let mut logical = String::from(line);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match natural.get(index) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches([' ', '\t', '\x0c']));
                    index += 1;
                }
                // Java drops a backslash at the very end of the file.
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let line_number = first + 1;
        let key = unescape(raw_key).map_err(|message| ParseError {
            line: line_number,
            message: format!("{message} in a key"),
        })?;
        let value = unescape(raw_value).map_err(|message| ParseError {
            line: line_number,
            message: format!("{message} in the value of {key}"),
        })?;
        entries.push(Entry {
            key,
            value,
            line: line_number,
        });
    }
    Ok(entries)
}

/// Lines ended by `\n`, `\r\n` or a lone `\r`, as Java reads them.
fn split_natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\n' => {
                lines.push(&text[start..at]);
                start = at + 1;
            }
            b'\r' => {
                lines.push(&text[start..at]);
                if bytes.get(at + 1) == Some(&b'\n') {
                    at += 1;
                }
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// The raw (still escaped) key and value of a logical line: the key ends
/// at the first unescaped `=`, `:` or blank; blanks, then one `=` or `:`,
/// then blanks separate it from the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\x0c' => {
                key_end = i;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            if pending_high.take().is_some() {
                return Err("a \\u escape of a lone UTF-16 high surrogate".into());
            }
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            // Only reachable at the end of the file (see `parse`): dropped.
            break;
        };
        if next == 'u' {
            let hex: String = chars.by_ref().take(4).collect();
            let unit = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                .then(|| u16::from_str_radix(&hex, 16).ok())
                .flatten()
                .ok_or("malformed \\uXXXX escape (four hex digits needed)")?;
            match (pending_high.take(), unit) {
                (None, 0xD800..=0xDBFF) => pending_high = Some(unit),
                (Some(high), 0xDC00..=0xDFFF) => {
                    let code = 0x10000 + (((high as u32) - 0xD800) << 10) + (unit as u32 - 0xDC00);
                    out.push(char::from_u32(code).ok_or("invalid \\u surrogate pair")?);
                }
                (Some(_), _) => return Err("a \\u escape of a lone UTF-16 high surrogate".into()),
                (None, 0xDC00..=0xDFFF) => {
                    return Err("a \\u escape of a lone UTF-16 low surrogate".into())
                }
                (None, unit) => out.push(char::from_u32(unit as u32).ok_or("invalid \\u escape")?),
            }
            continue;
        }
        if pending_high.take().is_some() {
            return Err("a \\u escape of a lone UTF-16 high surrogate".into());
        }
        out.push(match next {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            other => other,
        });
    }
    if pending_high.is_some() {
        return Err("a \\u escape of a lone UTF-16 high surrogate".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n  a=1\nb: 2\nc 3\nd\t=\t4\ne\nf=\n";
        assert_eq!(
            pairs(text),
            vec![
                pair("a", "1"),
                pair("b", "2"),
                pair("c", "3"),
                pair("d", "4"),
                pair("e", ""),
                pair("f", "")
            ]
        );
    }

    #[test]
    fn values_keep_inner_separators_and_trailing_blanks() {
        assert_eq!(pairs("a=b=c: d  "), vec![pair("a", "b=c: d  ")]);
        assert_eq!(pairs("a = = x"), vec![pair("a", "= x")]);
    }

    #[test]
    fn continuations_join_lines_and_drop_leading_blanks() {
        let text = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n    required username=\"u\" \\\n    password=\"p\";\nnext=1";
        let entries = parse(text).unwrap();
        assert_eq!(entries[0].key, "sasl.jaas.config");
        assert_eq!(
            entries[0].value,
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";"
        );
        assert_eq!(entries[0].line, 1);
        assert_eq!((entries[1].key.as_str(), entries[1].line), ("next", 4));
        // An even number of backslashes is an escaped backslash, no continuation.
        assert_eq!(
            pairs("a=x\\\\\nb=y"),
            vec![pair("a", "x\\"), pair("b", "y")]
        );
        // A comment ending with a backslash does not swallow the next line.
        assert_eq!(pairs("# c \\\nb=y"), vec![pair("b", "y")]);
        // A continuation at the very end of the file.
        assert_eq!(pairs("a=x\\"), vec![pair("a", "x")]);
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(
            pairs("key\\ with\\=sep\\:=v\\t\\n\\u00e9\\#\\\\"),
            vec![pair("key with=sep:", "v\t\né#\\")]
        );
        assert_eq!(pairs("a=\\uD83D\\uDE00"), vec![pair("a", "😀")]);
        assert_eq!(pairs("a=\\q"), vec![pair("a", "q")]);
    }

    #[test]
    fn line_endings_of_every_platform() {
        assert_eq!(
            pairs("a=1\r\nb=2\rc=3\n"),
            vec![pair("a", "1"), pair("b", "2"), pair("c", "3")]
        );
    }

    #[test]
    fn errors_name_the_line_and_not_the_value() {
        let error = parse("a=1\n\nsasl.password=se\\u12cret\n").unwrap_err();
        assert_eq!(error.line, 3);
        let text = error.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
        assert!(!text.contains("se"), "{text}");
        assert_eq!(parse("a=\\uD83D").unwrap_err().line, 1);
        assert_eq!(parse("a=\\uDE00").unwrap_err().line, 1);
        assert_eq!(parse("x=1\n\\u00zz=1").unwrap_err().line, 2);
    }

    #[test]
    fn a_confluent_cloud_client_properties_file() {
        let text = "# Required connection configs for Kafka producer, consumer, and admin\n\
bootstrap.servers=pkc-abc12.us-east-1.aws.confluent.cloud:9092\n\
security.protocol=SASL_SSL\n\
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='SECRET';\n\
sasl.mechanism=PLAIN\n\
# Required for correctness in Apache Kafka clients prior to 2.6\n\
client.dns.lookup=use_all_dns_ips\n\
\n\
# Best practice for higher availability in Apache Kafka clients prior to 3.0\n\
session.timeout.ms=45000\n";
        let entries = parse(text).unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "bootstrap.servers",
                "security.protocol",
                "sasl.jaas.config",
                "sasl.mechanism",
                "client.dns.lookup",
                "session.timeout.ms"
            ]
        );
        assert_eq!(entries[4].line, 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            // A fixed seed: the same inputs on every run and machine.
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7072_6f70_7300),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Arbitrary text is entries or an error naming an existing line,
        /// never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "(?s)[a-z=: \\t\\\\#!\\r\\nu0-9A-Fé]{0,200}") {
            let lines = text.split(['\n', '\r']).count().max(1);
            match parse(&text) {
                Ok(entries) => for e in entries { prop_assert!(e.line >= 1 && e.line <= lines) },
                Err(error) => prop_assert!(error.line >= 1 && error.line <= lines),
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(text in "\\PC{0,100}") {
            let _ = parse(&text);
        }

        /// What Java writes (every special character escaped) reads back
        /// as the same key and value.
        #[test]
        fn escaped_pairs_round_trip(key in "[^\\r\\n]{1,20}", value in "\\PC{0,40}") {
            let text = format!("{}={}\n", escape(&key, true), escape(&value, false));
            prop_assert_eq!(pairs(&text), vec![(key, value)]);
        }
    }

    /// Like `Properties.store`: backslash-escape what would change meaning.
    fn escape(text: &str, is_key: bool) -> String {
        let mut out = String::new();
        for (i, c) in text.chars().enumerate() {
            match c {
                '\\' | '=' | ':' | '#' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if is_key || i == 0 => out.push_str("\\ "),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\x0c' => out.push_str("\\f"),
                c => out.push(c),
            }
        }
        out
    }
}
