//! Amazon MSK IAM authentication as MSK offers it to clients without AWS's
//! Java library: SASL OAUTHBEARER whose token is a SigV4-presigned URL
//! (`sigv4.rs`) of `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`,
//! base64url-encoded without padding. AWS's signer libraries (Python, Go,
//! JavaScript) build the same token; the URL is valid for 900 s from its
//! X-Amz-Date, which is the token's lifetime.
//!
//! Also here: which region the token is for (a property, the AWS_REGION /
//! AWS_DEFAULT_REGION variables, or the MSK broker host names) and the
//! login options of Java's `IAMLoginModule` line.

use base64::Engine;
use chrono::{DateTime, Utc};

use super::secret::Secret;
use super::sigv4::{self, Credentials};

/// The property that names the region (`KAFKA_PULSE_KAFKA_AWS_REGION`).
pub const REGION_PROPERTY: &str = "aws.region";
/// How long a token's URL is valid (the AWS signers' value).
pub const TOKEN_LIFETIME_SECS: u64 = 900;
/// The service name MSK checks the signature for.
const SERVICE: &str = "kafka-cluster";
const ACTION: (&str, &str) = ("Action", "kafka-cluster:Connect");

/// What kafka-pulse's own tokens say they were made by (MSK logs it).
pub fn user_agent() -> String {
    format!("kafka-pulse/{}", env!("CARGO_PKG_VERSION"))
}

/// Which AWS identity signs: the standard credentials, or those of a named
/// profile, optionally exchanged for a role (Java's IAMLoginModule options
/// awsProfileName, awsRoleArn, awsRoleSessionName, awsRoleExternalId,
/// awsStsRegion).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsLogin {
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub role_external_id: Option<String>,
    pub sts_region: Option<String>,
}

impl AwsLogin {
    /// For messages: `profile 'x', role arn:…`, or the default chain.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(profile) = &self.profile {
            parts.push(format!("profile '{profile}'"));
        }
        if let Some(role) = &self.role_arn {
            parts.push(format!("role {role}"));
        }
        if parts.is_empty() {
            "default AWS credentials".into()
        } else {
            parts.join(", ")
        }
    }
}

/// An MSK IAM token source: the region and the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskIam {
    pub region: String,
    /// Where the region came from, for messages (`aws.region (from …)`,
    /// `AWS_REGION`, `the broker host names`).
    pub region_from: String,
    pub login: AwsLogin,
}

impl MskIam {
    pub fn describe(&self) -> String {
        format!(
            "AWS MSK IAM ({}, region {} from {})",
            self.login.describe(),
            self.region,
            self.region_from
        )
    }
}

/// A signed token and when its URL expires (ms since the epoch).
pub struct SignedToken {
    pub value: Secret,
    pub expires_at_ms: i64,
}

/// The token for `region` signed with `credentials` at `time`; `user_agent`
/// is appended after signing, as AWS's signers do (`lib/version`).
pub fn auth_token(
    region: &str,
    credentials: &Credentials,
    time: DateTime<Utc>,
    user_agent: &str,
) -> SignedToken {
    let host = format!("kafka.{region}.amazonaws.com");
    let request = sigv4::Request {
        method: "GET",
        host: &host,
        path: "/",
        params: &[ACTION],
        region,
        service: SERVICE,
        expires_secs: TOKEN_LIFETIME_SECS,
        payload_hash: sigv4::EMPTY_PAYLOAD_SHA256,
    };
    let query = sigv4::presign(&request, credentials, time);
    let url = format!(
        "https://{host}/?{query}&{}",
        sigv4::encode_pairs(&[("User-Agent", user_agent)])
    );
    // X-Amz-Date has whole seconds: the expiry is counted from them.
    let signed_at = time.timestamp();
    SignedToken {
        value: Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)),
        expires_at_ms: (signed_at + TOKEN_LIFETIME_SECS as i64) * 1000,
    }
}

/// A region as it may appear in a host name: `us-east-1`, `us-gov-west-1`.
fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

/// The region in an MSK broker host name:
/// `b-1.name.abc123.c2.kafka.us-east-1.amazonaws.com` (provisioned),
/// `boot-abc.c1.kafka-serverless.eu-west-1.amazonaws.com` (serverless),
/// `….amazonaws.com.cn` (China).
pub fn region_of_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    labels.windows(3).find_map(|w| {
        (matches!(w[0], "kafka" | "kafka-serverless") && w[2] == "amazonaws" && valid_region(w[1]))
            .then(|| w[1].to_string())
    })
}

/// The host of one `host:port` bootstrap entry (IPv6 in brackets too).
fn host_of(server: &str) -> &str {
    let server = server.trim();
    let server = server.rsplit_once("://").map_or(server, |(_, rest)| rest);
    if let Some(rest) = server.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    server.rsplit_once(':').map_or(server, |(host, _)| host)
}

/// The region every MSK host of `bootstrap` names, `Ok(None)` when none
/// does, an error when they disagree.
pub fn region_of_bootstrap(bootstrap: &str) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    for server in bootstrap.split(',').filter(|s| !s.trim().is_empty()) {
        if let Some(region) = region_of_host(host_of(server)) {
            match &found {
                Some(other) if *other != region => {
                    return Err(format!(
                        "the MSK broker host names name two regions ({other} and {region}): \
                         set {REGION_PROPERTY}"
                    ))
                }
                _ => found = Some(region),
            }
        }
    }
    Ok(found)
}

/// The region of the token, first found: `property` (its value and
/// source), the AWS_REGION then AWS_DEFAULT_REGION variables of `env`, the
/// MSK host names of `bootstrap`. Returns the region and where it came
/// from.
pub fn resolve_region(
    property: Option<(&str, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
    bootstrap: Option<&str>,
) -> Result<(String, String), String> {
    let checked = |region: &str, from: String| {
        let region = region.trim().to_ascii_lowercase();
        if valid_region(&region) {
            Ok((region, from))
        } else {
            Err(format!(
                "{from} is not an AWS region such as us-east-1 (lower case letters, digits and \
                 dashes)"
            ))
        }
    };
    if let Some((value, source)) = property {
        return checked(value, format!("{REGION_PROPERTY} (from {source})"));
    }
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(value) = env(variable).filter(|v| !v.trim().is_empty()) {
            return checked(&value, variable.to_string());
        }
    }
    if let Some(region) = bootstrap.map(region_of_bootstrap).transpose()?.flatten() {
        return Ok((region, "the MSK broker host names".into()));
    }
    Err(format!(
        "AWS MSK IAM needs the cluster's region: set {REGION_PROPERTY}=us-east-1 (or \
         KAFKA_PULSE_KAFKA_AWS_REGION, or AWS_REGION); it is not in the broker host names{}",
        match bootstrap {
            Some(b) if !b.trim().is_empty() => format!(" ({b})"),
            _ => String::new(),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn decode(token: &Secret) -> String {
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.expose())
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_token_is_a_presigned_connect_url_valid_900_seconds() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("session/token")),
        };
        let time = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let token = auth_token("us-east-1", &credentials, time, &user_agent());
        assert!(!token.value.expose().contains('='));
        assert!(!token.value.expose().contains('+') && !token.value.expose().contains('/'));
        let url = decode(&token.value);
        assert!(
            url.starts_with(
                "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect\
                 &X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Fus-east-1%2Fkafka-cluster%2Faws4_request\
                 &X-Amz-Date=20240102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
                 &X-Amz-Security-Token=session%2Ftoken&X-Amz-Signature="
            ),
            "{url}"
        );
        assert!(
            url.ends_with(&format!(
                "&User-Agent=kafka-pulse%2F{}",
                env!("CARGO_PKG_VERSION")
            )),
            "{url}"
        );
        assert_eq!(token.expires_at_ms, (time.timestamp() + 900) * 1000);
    }

    #[test]
    fn regions_from_msk_host_names() {
        for (host, region) in [
            (
                "b-1.mycluster.abc123.c2.kafka.us-east-1.amazonaws.com",
                Some("us-east-1"),
            ),
            (
                "boot-abcd.c1.kafka-serverless.eu-west-1.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "b-2.x.y.c3.kafka.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            (
                "b-1.c.d.kafka.us-gov-west-1.amazonaws.com",
                Some("us-gov-west-1"),
            ),
            ("kafka.example.com", None),
            ("broker.kafka.internal", None),
            ("b-1.x.kafka.US_EAST.amazonaws.com", None),
            ("", None),
        ] {
            assert_eq!(region_of_host(host).as_deref(), region, "{host}");
        }
        assert_eq!(
            region_of_bootstrap(
                "b-1.c.x.c2.kafka.us-east-1.amazonaws.com:9098,b-2.c.x.c2.kafka.us-east-1.amazonaws.com:9098"
            )
            .unwrap()
            .as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region_of_bootstrap("localhost:9092,[::1]:9092").unwrap(),
            None
        );
        let error = region_of_bootstrap(
            "b-1.c.x.kafka.us-east-1.amazonaws.com:9098,b-1.c.y.kafka.eu-west-1.amazonaws.com:9098",
        )
        .unwrap_err();
        assert!(error.contains("aws.region"), "{error}");
    }

    #[test]
    fn the_region_property_then_the_variables_then_the_host_names() {
        let msk = Some("b-1.c.x.c2.kafka.eu-central-1.amazonaws.com:9098");
        let env = |name: &str| match name {
            "AWS_DEFAULT_REGION" => Some("ap-south-1".to_string()),
            _ => None,
        };
        assert_eq!(
            resolve_region(Some(("us-west-2", "file")), &env, msk).unwrap(),
            ("us-west-2".into(), "aws.region (from file)".into())
        );
        assert_eq!(
            resolve_region(None, &env, msk).unwrap(),
            ("ap-south-1".into(), "AWS_DEFAULT_REGION".into())
        );
        let both = |name: &str| {
            Some(
                format!("{name}-is-set")
                    .to_ascii_lowercase()
                    .replace('_', "-"),
            )
        };
        assert_eq!(resolve_region(None, &both, msk).unwrap().1, "AWS_REGION");
        assert_eq!(
            resolve_region(None, &no_env, msk).unwrap(),
            ("eu-central-1".into(), "the MSK broker host names".into())
        );
        let error = resolve_region(None, &no_env, Some("localhost:9098")).unwrap_err();
        assert!(
            error.contains("aws.region=")
                && error.contains("AWS_REGION")
                && error.contains("localhost:9098"),
            "{error}"
        );
        let error = resolve_region(Some(("us east", "flag")), &no_env, None).unwrap_err();
        assert!(error.contains("aws.region (from flag)"), "{error}");
    }
}
