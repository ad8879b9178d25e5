//! AWS Signature Version 4, query-string form ("presigned URL"): what an
//! Amazon MSK IAM token is made of (`msk_iam.rs`). Written from AWS's
//! published description of SigV4 (canonical request → string to sign →
//! derived signing key → HMAC-SHA256 signature), with the hmac and sha2
//! crates kafka-pulse already builds for SCRAM, so the signer is in every
//! build and tested in default CI.
//!
//! Only what a presigned GET needs: the one signed header is `host`, the
//! query holds the request's own parameters and the `X-Amz-*` ones.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::secret::Secret;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The SHA-256 of an empty payload: what a presigned GET without a body
/// signs (botocore and the Go SDK do so for non-S3 services).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// S3's stand-in for a payload that is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// AWS credentials: the key id may be shown (it names the identity, like a
/// user name), the secret key and the session token never are.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

/// One request to presign.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The host as the request's Host header carries it (with a port only
    /// when it is not the scheme's default).
    pub host: &'a str,
    /// The absolute path, e.g. `/` or `/test.txt`.
    pub path: &'a str,
    /// The request's own query parameters, unencoded, in the order the
    /// URL lists them (the signature does not depend on it).
    pub params: &'a [(&'a str, &'a str)],
    pub region: &'a str,
    pub service: &'a str,
    /// X-Amz-Expires: how long the URL is valid after `time`.
    pub expires_secs: u64,
    /// The payload's hex SHA-256, or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// The presigned query string (no leading `?`): the request's parameters,
/// then the `X-Amz-*` ones, then `X-Amz-Signature`, in the order botocore
/// writes them, so a token made here equals the Python signer's byte for
/// byte.
pub fn presign(request: &Request<'_>, credentials: &Credentials, time: DateTime<Utc>) -> String {
    let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
    let date = time.format("%Y%m%d").to_string();
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let credential = format!("{}/{scope}", credentials.access_key_id);
    let expires = request.expires_secs.to_string();
    let mut auth: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", "host"),
    ];
    if let Some(token) = &credentials.session_token {
        auth.push(("X-Amz-Security-Token", token.expose()));
    }
    let all: Vec<(&str, &str)> = request.params.iter().copied().chain(auth).collect();

    let canonical = canonical_request(request, &all);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(
        credentials.secret_access_key.expose(),
        &date,
        request.region,
        request.service,
    );
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));

    let mut query = encode_pairs(&all);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

/// `METHOD \n path \n sorted query \n host:… \n\n host \n payload hash`.
fn canonical_request(request: &Request<'_>, params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    // Sorted by encoded name, then value (AWS: "sort by key name").
    encoded.sort();
    let query = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let path = if request.path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(request.path, false)
    };
    format!(
        "{}\n{path}\n{query}\nhost:{}\n\nhost\n{}",
        request.method,
        request.host.trim().to_ascii_lowercase(),
        request.payload_hash
    )
}

/// HMAC chain `AWS4<secret>` → date → region → service → `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX`
/// (upper case); `/` kept in paths (`encode_slash` false).
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `k=v&k=v` in the given order, both sides encoded.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn example_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }

    /// AWS's published example of a presigned URL ("Authenticating
    /// Requests: Using Query Parameters", Amazon S3 API reference): GET
    /// https://examplebucket.s3.amazonaws.com/test.txt, valid 86400 s from
    /// 2013-05-24T00:00:00Z.
    #[test]
    fn aws_documentation_example_presigned_url() {
        let request = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            params: &[],
            region: "us-east-1",
            service: "s3",
            expires_secs: 86400,
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let time = Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap();
        let all = [
            ("X-Amz-Algorithm", ALGORITHM),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            ),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"),
            ("X-Amz-SignedHeaders", "host"),
        ];
        // The canonical request and string to sign as the documentation
        // prints them.
        let canonical = canonical_request(&request, &all);
        assert_eq!(
            canonical,
            "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\
             AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=\
             20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:\
             examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
        );
        assert_eq!(
            hex(&Sha256::digest(canonical.as_bytes())),
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
        let query = presign(&request, &example_credentials(), time);
        assert_eq!(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    /// The signing key of AWS's "derive a signing key" example (secret
    /// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam).
    #[test]
    fn aws_documentation_example_signing_key() {
        assert_eq!(
            hex(&signing_key(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20120215",
                "us-east-1",
                "iam"
            )),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn a_session_token_is_signed_and_encoded_and_never_shown() {
        let mut credentials = example_credentials();
        credentials.session_token = Some(Secret::new("tok/en+=="));
        let request = Request {
            method: "GET",
            host: "kafka.eu-west-1.amazonaws.com",
            path: "/",
            params: &[("Action", "kafka-cluster:Connect")],
            region: "eu-west-1",
            service: "kafka-cluster",
            expires_secs: 900,
            payload_hash: EMPTY_PAYLOAD_SHA256,
        };
        let time = Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
        let with = presign(&request, &credentials, time);
        assert!(with.starts_with("Action=kafka-cluster%3AConnect&X-Amz-Algorithm="));
        assert!(
            with.contains("&X-Amz-Security-Token=tok%2Fen%2B%3D%3D&X-Amz-Signature="),
            "{with}"
        );
        let without = presign(&request, &example_credentials(), time);
        let signature = |q: &str| q.rsplit_once('=').unwrap().1.to_string();
        assert_ne!(signature(&with), signature(&without));
        assert_eq!(signature(&with).len(), 64);
        let shown = format!("{credentials:?}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"), "{shown}");
        assert!(
            !shown.contains("wJalr") && !shown.contains("tok/en"),
            "{shown}"
        );
    }

    #[test]
    fn uri_encoding_is_sigv4s() {
        assert_eq!(uri_encode("a-Z_0.~", true), "a-Z_0.~");
        assert_eq!(uri_encode("a b/c:d+é", true), "a%20b%2Fc%3Ad%2B%C3%A9");
        assert_eq!(uri_encode("/a b/c", false), "/a%20b/c");
    }
}
