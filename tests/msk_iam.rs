//! Amazon MSK IAM tokens, byte for byte: kafka-pulse's signer
//! (src/security/msk_iam.rs, sigv4.rs) against AWS's own Python signer
//! (PyPI aws-msk-iam-sasl-signer-python, through tests/python/msk_iam_token.py)
//! under the same credentials and a frozen clock. Skipped with a printed
//! reason when python3 or the package is missing, unless
//! KAFKA_PULSE_REQUIRE_EXTERNAL=1 (CI), which fails it.

mod common;

use std::process::Command;

use base64::Engine;
use chrono::{TimeZone, Utc};
use common::servers::require;
use kafka_pulse::security::msk_iam::auth_token;
use kafka_pulse::security::secret::Secret;
use kafka_pulse::security::sigv4::Credentials;

/// What AWS's signer made for one case.
struct Theirs {
    token: String,
    expiry_ms: i64,
    user_agent: String,
}

fn python_token(region: &str, credentials: &Credentials, epoch: i64) -> Result<Theirs, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/msk_iam_token.py");
    let output = Command::new("python3")
        .args([
            script,
            region,
            &credentials.access_key_id,
            credentials.secret_access_key.expose(),
            credentials
                .session_token
                .as_ref()
                .map_or("-", Secret::expose),
            &epoch.to_string(),
        ])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if output.status.code() == Some(3) {
        return Err("python package aws-msk-iam-sasl-signer-python missing \
             (pip install aws-msk-iam-sasl-signer-python)"
            .into());
    }
    assert!(
        output.status.success(),
        "msk_iam_token.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON from msk_iam_token.py");
    Ok(Theirs {
        token: json["token"].as_str().unwrap().to_string(),
        expiry_ms: json["expiry_ms"].as_i64().unwrap(),
        user_agent: json["user_agent"].as_str().unwrap().to_string(),
    })
}

#[test]
fn our_tokens_equal_aws_python_signers_byte_for_byte() {
    let session = Credentials {
        access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        // Characters that need encoding, as real session tokens have.
        session_token: Some(Secret::new(
            "IQoJb3JpZ2luX2VjEHa+/fake//session/token==with+plus",
        )),
    };
    let long_term = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: Secret::new("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
        session_token: None,
    };
    let cases = [
        ("us-east-1", &session, 1_704_164_645),
        ("eu-west-1", &long_term, 1_709_208_000),
        ("ap-southeast-2", &session, 1_893_456_000),
        ("us-gov-west-1", &long_term, 1_735_689_599),
    ];
    let mut agreed = 0;
    let mut shown = String::new();
    for (region, credentials, epoch) in cases {
        let Some(theirs) = require(python_token(region, credentials, epoch)) else {
            return;
        };
        let time = Utc.timestamp_opt(epoch, 0).unwrap();
        let ours = auth_token(region, credentials, time, &theirs.user_agent);
        assert_eq!(
            ours.value.expose(),
            theirs.token,
            "{region} at {epoch}: kafka-pulse's token differs from {}'s",
            theirs.user_agent
        );
        assert_eq!(ours.expires_at_ms, theirs.expiry_ms, "{region} at {epoch}");
        agreed += 1;
        if shown.is_empty() {
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&theirs.token)
                .expect("a base64url token");
            let url = String::from_utf8(url).expect("a URL");
            let signature = url
                .split('&')
                .find_map(|pair| pair.strip_prefix("X-Amz-Signature="))
                .unwrap_or("?");
            shown = format!(
                "{}, {region}: {} token bytes, X-Amz-Signature={signature}, expiry_ms {}",
                theirs.user_agent,
                theirs.token.len(),
                theirs.expiry_ms
            );
        }
    }
    println!(
        "msk_iam cross-check: {agreed} of {} tokens identical ({shown})",
        cases.len()
    );
}
