//! AWS Signature Version 4, in its two forms: the query string of a
//! presigned URL (what an Amazon MSK IAM token is made of, `msk_iam.rs`)
//! and the `Authorization` header (requests to Amazon OpenSearch Service,
//! `sinks/elasticsearch/service.rs`). Written from AWS's published
//! description of SigV4 (canonical request → string to sign → derived
//! signing key → HMAC-SHA256 signature), with the hmac and sha2 crates
//! kafka-pulse already builds for SCRAM, so the signer is in every build and
//! tested in default CI against AWS's published examples and test suite.

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
    let scope = Scope::new(time, request.region, request.service);
    let credential = format!("{}/{}", credentials.access_key_id, scope.scope);
    let expires = request.expires_secs.to_string();
    let mut auth: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &scope.amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", "host"),
    ];
    if let Some(token) = &credentials.session_token {
        auth.push(("X-Amz-Security-Token", token.expose()));
    }
    let all: Vec<(&str, &str)> = request.params.iter().copied().chain(auth).collect();

    let signature = scope.signature(&canonical_request(request, &all), credentials);
    let mut query = encode_pairs(&all);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

/// A request to sign with an `Authorization` header.
#[derive(Debug, Clone)]
pub struct HeaderRequest<'a> {
    pub method: &'a str,
    /// The host as the request's Host header carries it.
    pub host: &'a str,
    /// The path, unencoded; SigV4 encodes it once here. A caller holding the
    /// path as sent (already percent-encoded) passes that: services other
    /// than S3 expect it encoded twice.
    pub path: &'a str,
    /// The query parameters, unencoded.
    pub params: &'a [(&'a str, &'a str)],
    /// Headers to sign besides `host` and `x-amz-date` (any case).
    pub headers: &'a [(&'a str, &'a str)],
    pub region: &'a str,
    pub service: &'a str,
    /// The payload's hex SHA-256 ([`payload_sha256`]).
    pub payload_hash: &'a str,
}

/// The headers that sign `request` at `time`: `x-amz-date`,
/// `x-amz-security-token` with temporary credentials, and `authorization`
/// (add them to the request as they are).
pub fn sign_headers(
    request: &HeaderRequest<'_>,
    credentials: &Credentials,
    time: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let scope = Scope::new(time, request.region, request.service);
    let mut added: Vec<(&'static str, String)> = vec![("x-amz-date", scope.amz_date.clone())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token", token.expose().to_string()));
    }
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), canonical_value(value)))
        .chain([(
            "host".to_string(),
            canonical_value(&request.host.to_ascii_lowercase()),
        )])
        .chain(added.iter().map(|(n, v)| (n.to_string(), v.clone())))
        .collect();
    // Stable: a repeated header's values keep their order.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = canonical_request_with(
        request.method,
        request.path,
        request.params,
        &headers,
        request.payload_hash,
    );
    let signature = scope.signature(&canonical, credentials);
    added.push((
        "authorization",
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
            credentials.access_key_id,
            scope.scope,
            signed_names(&headers)
        ),
    ));
    added
}

/// The hex SHA-256 of a payload.
pub fn payload_sha256(payload: &[u8]) -> String {
    hex(&Sha256::digest(payload))
}

/// A header value as SigV4 signs it: trimmed, inner runs of spaces as one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `a;b;c` of sorted lower-case header names, each once.
fn signed_names(headers: &[(String, String)]) -> String {
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    names.join(";")
}

/// `METHOD \n path \n sorted query \n host:… \n\n host \n payload hash`.
fn canonical_request(request: &Request<'_>, params: &[(&str, &str)]) -> String {
    let headers = [("host".to_string(), request.host.trim().to_ascii_lowercase())];
    canonical_request_with(
        request.method,
        request.path,
        params,
        &headers,
        request.payload_hash,
    )
}

/// The canonical request of both forms; `headers` lower-case and sorted by
/// name (a repeated name's values are joined with commas).
fn canonical_request_with(
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
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
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(path, false)
    };
    let mut canonical_headers = String::new();
    for (index, (name, value)) in headers.iter().enumerate() {
        let continues = index > 0 && headers[index - 1].0 == *name;
        if continues {
            canonical_headers.push(',');
        } else {
            if index > 0 {
                canonical_headers.push('\n');
            }
            canonical_headers.push_str(name);
            canonical_headers.push(':');
        }
        canonical_headers.push_str(value);
    }
    format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n\n{}\n{payload_hash}",
        signed_names(headers)
    )
}

/// The time and credential scope one signature is made for; both forms
/// sign through it.
struct Scope<'a> {
    /// `YYYYMMDDTHHMMSSZ`: X-Amz-Date.
    amz_date: String,
    /// `YYYYMMDD`: the first step of the signing key.
    date: String,
    /// `date/region/service/aws4_request`.
    scope: String,
    region: &'a str,
    service: &'a str,
}

impl<'a> Scope<'a> {
    fn new(time: DateTime<Utc>, region: &'a str, service: &'a str) -> Self {
        let date = time.format("%Y%m%d").to_string();
        Scope {
            amz_date: time.format("%Y%m%dT%H%M%SZ").to_string(),
            scope: format!("{date}/{region}/{service}/aws4_request"),
            date,
            region,
            service,
        }
    }

    /// The hex signature of a canonical request: string to sign, derived
    /// signing key, HMAC.
    fn signature(&self, canonical_request: &str, credentials: &Credentials) -> String {
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let key = signing_key(
            credentials.secret_access_key.expose(),
            &self.date,
            self.region,
            self.service,
        );
        hex(&hmac(&key, string_to_sign.as_bytes()))
    }
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

    /// AWS's SigV4 test suite (aws-sig-v4-test-suite: credentials
    /// AKIDEXAMPLE, region us-east-1, service "service", 2015-08-30
    /// 12:36:00 UTC), the published Authorization headers.
    #[test]
    fn aws_test_suite_authorization_headers() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        let time = Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap();
        let empty = payload_sha256(b"");
        assert_eq!(empty, EMPTY_PAYLOAD_SHA256);
        let form_hash = payload_sha256(b"Param1=value1");
        let prefix =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        // name, method, path, query, extra headers, payload hash, expected.
        let cases: [(&str, &str, &str, Pairs, Pairs, &str, &str); 5] = [
            (
                "get-vanilla",
                "GET",
                "/",
                &[],
                &[],
                &empty,
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "/",
                &[("Param2", "value2"), ("Param1", "value1")],
                &[],
                &empty,
                "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "get-utf8",
                "GET",
                "/\u{1234}",
                &[],
                &[],
                &empty,
                "SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            (
                "post-vanilla",
                "POST",
                "/",
                &[],
                &[],
                &empty,
                "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "post-x-www-form-urlencoded",
                "POST",
                "/",
                &[],
                &[("Content-Type", "application/x-www-form-urlencoded")],
                &form_hash,
                "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
        ];
        for (name, method, path, params, headers, payload_hash, expected) in cases {
            let request = HeaderRequest {
                method,
                host: "example.amazonaws.com",
                path,
                params,
                headers,
                region: "us-east-1",
                service: "service",
                payload_hash,
            };
            let signed = sign_headers(&request, &credentials, time);
            assert_eq!(
                signed[0],
                ("x-amz-date", "20150830T123600Z".to_string()),
                "{name}"
            );
            assert_eq!(signed[1].0, "authorization", "{name}");
            assert_eq!(signed[1].1, format!("{prefix}{expected}"), "{name}");
        }
    }

    #[test]
    fn header_signing_covers_the_session_token_and_folds_values() {
        let mut credentials = example_credentials();
        credentials.session_token = Some(Secret::new("FQoG/token"));
        let request = HeaderRequest {
            method: "POST",
            host: "search-x.eu-west-1.es.amazonaws.com",
            path: "/_bulk",
            params: &[],
            headers: &[("X-Amz-Content-Sha256", "abc"), ("x-custom", "  a   b ")],
            region: "eu-west-1",
            service: "es",
            payload_hash: "abc",
        };
        let time = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let signed = sign_headers(&request, &credentials, time);
        let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["x-amz-date", "x-amz-security-token", "authorization"]
        );
        assert_eq!(signed[1].1, "FQoG/token");
        assert!(
            signed[2].1.contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-custom,"
            ),
            "{}",
            signed[2].1
        );
        // The token is signed: another token, another signature.
        credentials.session_token = Some(Secret::new("other"));
        assert_ne!(sign_headers(&request, &credentials, time)[2], signed[2]);
        let headers = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
            ("b".to_string(), "3".to_string()),
        ];
        let canonical = canonical_request_with("GET", "/", &[], &headers, "h");
        assert_eq!(canonical, "GET\n/\n\na:1\nb:2,3\n\na;b\nh");
    }

    #[test]
    fn uri_encoding_is_sigv4s() {
        assert_eq!(uri_encode("a-Z_0.~", true), "a-Z_0.~");
        assert_eq!(uri_encode("a b/c:d+é", true), "a%20b%2Fc%3Ad%2B%C3%A9");
        assert_eq!(uri_encode("/a b/c", false), "/a%20b/c");
    }
}
