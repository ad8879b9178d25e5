//! SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client
//! side: client-first, client-final with the proof, then the server's
//! signature is checked, so a broker that does not know the password (a
//! man in the middle) is refused too.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256, Sha512};

use super::Authenticator;
use crate::security::secret::Secret;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Kafka refuses credentials with fewer (ScramMechanism's minimum).
const MIN_ITERATIONS: u32 = 4096;
/// A broker asking for more would make each connection burn seconds of CPU;
/// Kafka itself allows at most 16,384.
const MAX_ITERATIONS: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Constant-time check of an HMAC.
    fn verify_hmac(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            Hash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.verify_slice(expected).is_ok()
            }
            Hash::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.verify_slice(expected).is_ok()
            }
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            Hash::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

enum State {
    Start,
    SentFirst {
        client_first_bare: String,
    },
    SentFinal {
        server_signature_key: Vec<u8>,
        auth_message: String,
    },
    Done,
}

pub struct Scram {
    hash: Hash,
    username: String,
    password: Secret,
    nonce: String,
    state: State,
}

impl Scram {
    pub fn new(hash: Hash, username: &str, password: &str) -> Self {
        // Printable, no commas (RFC 5802 "c-nonce"); 32 alphanumerics are
        // 190 bits of randomness.
        let nonce: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Scram::with_nonce(hash, username, password, &nonce)
    }

    fn with_nonce(hash: Hash, username: &str, password: &str, nonce: &str) -> Self {
        Scram {
            hash,
            username: username.to_string(),
            password: Secret::new(password),
            nonce: nonce.to_string(),
            state: State::Start,
        }
    }

    fn client_final(
        &self,
        client_first_bare: &str,
        server_first: &[u8],
    ) -> Result<(Vec<u8>, State), String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the broker's SCRAM challenge is not UTF-8".to_string())?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = Some(value),
                Some(("i", value)) => iterations = Some(value),
                Some(("m", _)) => {
                    return Err(
                        "the broker requires a SCRAM extension kafka-pulse does not know".into(),
                    )
                }
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(
                "the broker's SCRAM challenge lacks the nonce, salt or iteration count".into(),
            );
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the broker's SCRAM nonce does not extend ours".into());
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "the broker's SCRAM salt is not base64".to_string())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the broker's SCRAM iteration count is not a number".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the broker asks for {iterations} SCRAM iterations, outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }
        let hash = self.hash;
        let salted = hash.salted_password(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.digest(&client_key);
        // "biws" = base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        let message = format!("{without_proof},p={}", B64.encode(proof));
        Ok((
            message.into_bytes(),
            State::SentFinal {
                server_signature_key: server_key,
                auth_message,
            },
        ))
    }
}

/// RFC 5802 saslname: `=` and `,` escaped.
fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

impl Authenticator for Scram {
    fn step(&mut self, server: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => {
                let client_first_bare = format!("n={},r={}", sasl_name(&self.username), self.nonce);
                let message = format!("n,,{client_first_bare}").into_bytes();
                self.state = State::SentFirst { client_first_bare };
                Ok(Some(message))
            }
            State::SentFirst { client_first_bare } => {
                let server_first = server.ok_or("the broker sent no SCRAM challenge")?;
                let (message, next) = self.client_final(&client_first_bare, server_first)?;
                self.state = next;
                Ok(Some(message))
            }
            State::SentFinal {
                server_signature_key,
                auth_message,
            } => {
                let server_final = std::str::from_utf8(server.unwrap_or_default())
                    .map_err(|_| "the broker's final SCRAM message is not UTF-8".to_string())?;
                if let Some(error) = server_final.strip_prefix("e=") {
                    return Err(format!("the broker refused the SCRAM proof: {error}"));
                }
                let signature = server_final
                    .split(',')
                    .find_map(|a| a.strip_prefix("v="))
                    .and_then(|v| B64.decode(v).ok())
                    .ok_or("the broker's final SCRAM message has no signature")?;
                if !self.hash.verify_hmac(
                    &server_signature_key,
                    auth_message.as_bytes(),
                    &signature,
                ) {
                    return Err(
                        "the broker's SCRAM signature is wrong: it does not know this user's \
                         credentials (a man in the middle?)"
                            .into(),
                    );
                }
                Ok(None)
            }
            State::Done => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SCRAM-SHA-256 example exchange of RFC 7677 section 3.
    #[test]
    fn rfc_7677_example() {
        let mut scram = Scram::with_nonce(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        let first = scram.step(None).unwrap().unwrap();
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = scram.step(Some(server_first)).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            scram
                .step(Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let mut scram = Scram::with_nonce(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        scram.step(None).unwrap();
        scram
            .step(Some(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
            .unwrap();
        let error = scram
            .step(Some(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
            .unwrap_err();
        assert!(error.contains("signature is wrong"), "{error}");
    }

    #[test]
    fn hostile_challenges_are_errors_without_the_password() {
        let challenges: [&[u8]; 8] = [
            b"",
            b"\xff\xfe",
            b"r=other,s=QUJD,i=4096",
            b"r=abc,s=QUJD,i=4096",
            b"r=abcX,s=***,i=4096",
            b"r=abcX,s=QUJD,i=1",
            b"r=abcX,s=QUJD,i=4000000000",
            b"m=ext,r=abcX,s=QUJD,i=4096",
        ];
        for challenge in challenges {
            let mut scram = Scram::with_nonce(Hash::Sha512, "u", "hunter2", "abc");
            scram.step(None).unwrap();
            let error = scram.step(Some(challenge)).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
        }
        let mut scram = Scram::with_nonce(Hash::Sha512, "u", "hunter2", "abc");
        scram.step(None).unwrap();
        scram.step(Some(b"r=abcX,s=QUJD,i=4096")).unwrap();
        let error = scram.step(Some(b"e=invalid-proof")).unwrap_err();
        assert!(error.contains("invalid-proof"), "{error}");
    }

    #[test]
    fn user_names_are_escaped() {
        let mut scram = Scram::with_nonce(Hash::Sha512, "a=b,c", "p", "n");
        assert_eq!(scram.step(None).unwrap().unwrap(), b"n,,n=a=3Db=2Cc,r=n");
    }
}
