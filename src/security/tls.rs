//! The rustls configuration of the collector's own Kafka client: the
//! system's roots plus `ssl.ca.location`, the broker's host name checked
//! unless turned off, and a client certificate for mTLS whose key may be an
//! encrypted PKCS#8 (PBES2) PEM. Built once at start, so a missing file, a
//! wrong passphrase or a key that does not fit its certificate stops the
//! start with a message naming the property and file.
//!
//! The crypto provider is `ring`, which rustls already builds for reqwest;
//! it is named explicitly because the embedded broker's dependencies also
//! enable aws-lc-rs, and rustls refuses to guess between two.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::settings::TlsSettings;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    // Unreadable system stores are not fatal: a CA file may be all we need.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    let mut trusted = "the system's CA certificates".to_string();
    if let Some(ca) = &settings.ca_location {
        let certs = read_certificates(ca, "ssl.ca.location")?;
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!(
                    "ssl.ca.location {}: not a usable CA certificate: {e}",
                    ca.display()
                )
            })?;
        }
        trusted = format!("the system's CA certificates and {}", ca.display());
    }
    if roots.is_empty() {
        return Err(
            "no CA certificates to check brokers against: the system has none and \
             ssl.ca.location is not set"
                .into(),
        );
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("cannot set up certificate checks: {e}"))?;
    let verifier = Arc::new(ExplainingVerifier {
        inner,
        verify_hostname: settings.verify_hostname,
        trusted,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&settings.certificate_location, &settings.key_location) {
        (Some(cert_path), Some(key_path)) => {
            let chain = read_certificates(cert_path, "ssl.certificate.location")?;
            let key = read_key(key_path, settings.key_password.as_ref().map(|p| p.expose()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "ssl.certificate.location {} and ssl.key.location {} do not make a client \
                     certificate: {e}",
                    cert_path.display(),
                    key_path.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}

fn read_certificates(path: &Path, property: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read {property} {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{property} {}: not a PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{property} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

const ENCRYPTED_PKCS8_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_PKCS8_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key of `path`: PKCS#8 (plain or encrypted with PBES2),
/// PKCS#1 or SEC1. OpenSSL's legacy encrypted PEM cannot be read by any
/// maintained Rust crate; the error gives the command that converts it.
pub fn read_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read ssl.key.location {shown}: {e}"))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "ssl.key.location {shown} is encrypted in OpenSSL's legacy format (Proc-Type: \
             4,ENCRYPTED), which kafka-pulse does not read; convert it to encrypted PKCS#8 \
             once:\n  openssl pkcs8 -topk8 -v2 aes-256-cbc -in {shown} -out {shown}.p8\n\
             and use ssl.key.location={shown}.p8 with the same ssl.key.password"
        ));
    }
    if let Some(start) = text.find(ENCRYPTED_PKCS8_BEGIN) {
        let Some(password) = password else {
            return Err(format!(
                "ssl.key.location {shown} is encrypted: set ssl.key.password \
                 (e.g. KAFKA_PULSE_KAFKA_SSL_KEY_PASSWORD or ..._FILE)"
            ));
        };
        let end = text[start..]
            .find(ENCRYPTED_PKCS8_END)
            .map(|e| start + e + ENCRYPTED_PKCS8_END.len())
            .ok_or_else(|| format!("ssl.key.location {shown}: unterminated encrypted key"))?;
        let (_, der) = pkcs8::der::pem::decode_vec(&text.as_bytes()[start..end])
            .map_err(|e| format!("ssl.key.location {shown}: bad PEM: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("ssl.key.location {shown}: not an encrypted PKCS#8 key: {e}"))?;
        let decrypted = info.decrypt(password).map_err(|_| {
            format!(
                "cannot decrypt ssl.key.location {shown} with ssl.key.password: wrong passphrase, \
                 or a cipher other than PBES2 (AES-CBC with PBKDF2 or scrypt)"
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            decrypted.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map_err(|e| format!("ssl.key.location {shown} holds no PEM private key ({e})"))
}

/// The host part of `host:port` (`[::1]:9092` → `::1`), as TLS checks it.
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Set by the own client on a response that starts like a TLS record.
pub const TLS_ANSWER: &str = "the broker answered in TLS";

fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

fn closed(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// Why an alert from the broker ended the connection: usually mTLS.
fn alert_hint(security: &super::Security) -> String {
    match security
        .settings()
        .tls
        .as_ref()
        .and_then(|t| t.certificate_location.as_ref())
    {
        None => "; the listener probably requires a client certificate \
                 (ssl.certificate.location and ssl.key.location)"
            .to_string(),
        Some(cert) => format!(
            "; the listener probably does not trust the client certificate {}",
            cert.display()
        ),
    }
}

/// One line for a failed TLS handshake with `addr`.
pub fn handshake_failure(addr: &str, security: &super::Security, error: &std::io::Error) -> String {
    let protocol = security.protocol().name();
    match rustls_error(error) {
        Some(rustls::Error::General(why)) => format!("TLS with Kafka broker {addr} failed: {why}"),
        Some(rustls::Error::InvalidMessage(_)) => format!(
            "Kafka broker {addr} did not answer in TLS: it is probably a PLAINTEXT or \
             SASL_PLAINTEXT listener, but security.protocol is {protocol}"
        ),
        Some(rustls::Error::AlertReceived(alert)) => format!(
            "Kafka broker {addr} refused the TLS handshake ({alert:?}){}",
            alert_hint(security)
        ),
        Some(other) => format!("TLS with Kafka broker {addr} failed: {other}"),
        None if closed(error) => format!(
            "Kafka broker {addr} closed the connection during the TLS handshake: it is \
             probably a PLAINTEXT or SASL_PLAINTEXT listener, but security.protocol is {protocol}"
        ),
        None => format!("TLS with Kafka broker {addr} failed: {error}"),
    }
}

/// One line for a connection that failed at its first request
/// (ApiVersions): a plaintext client on a TLS listener, or a TLS 1.3
/// client certificate refused after the handshake.
pub fn first_exchange_failure(
    addr: &str,
    security: &super::Security,
    error: &std::io::Error,
) -> String {
    let protocol = security.protocol().name();
    let tls = security.tls_config().is_some();
    if error.to_string() == TLS_ANSWER {
        return format!(
            "Kafka broker {addr} answered in TLS: it is an SSL or SASL_SSL listener, but \
             security.protocol is {protocol}"
        );
    }
    match rustls_error(error) {
        Some(rustls::Error::AlertReceived(alert)) => {
            return format!(
                "Kafka broker {addr} refused the TLS connection ({alert:?}){}",
                alert_hint(security)
            )
        }
        Some(other) => return format!("TLS with Kafka broker {addr} failed: {other}"),
        None => {}
    }
    if tls && closed(error) {
        // Java's TLS 1.3 refuses a client certificate after the handshake;
        // its alert can be lost to the reset that follows.
        return format!(
            "Kafka broker {addr} closed the TLS connection at the first request{}",
            alert_hint(security)
        );
    }
    if !tls && closed(error) {
        return format!(
            "Kafka broker {addr} closed the connection at the first request: if it is an SSL \
             or SASL_SSL listener, set security.protocol accordingly (it is {protocol})"
        );
    }
    format!("Kafka broker {addr} closed the connection or failed during ApiVersions: {error}")
}

/// WebPKI's checks, with errors that say what the broker presented and
/// what was trusted, and the host name check skipped when turned off.
#[derive(Debug)]
struct ExplainingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verify_hostname: bool,
    trusted: String,
}

impl ServerCertVerifier for ExplainingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            // WebPKI checks the name last: the chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(error)) => {
                let subject = describe_certificate(end_entity);
                let why = match &error {
                    CertificateError::UnknownIssuer => {
                        format!(
                            "it is not signed by a trusted CA (trusted: {})",
                            self.trusted
                        )
                    }
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => format!(
                        "it is not valid for the host name {} (set \
                         ssl.endpoint.identification.algorithm= (empty) to skip this check, \
                         not recommended)",
                        server_name.to_str()
                    ),
                    CertificateError::ExpiredContext { not_after, .. } => format!(
                        "it expired at {} (the broker needs a renewed certificate; \
                         check this machine's clock too)",
                        utc_time(not_after.as_secs())
                    ),
                    CertificateError::Expired => "it has expired".to_string(),
                    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                        "it is not valid yet (check the clock)".to_string()
                    }
                    other => format!("{other:?}"),
                };
                Err(rustls::Error::General(format!(
                    "the broker's certificate ({subject}) was refused: {why}"
                )))
            }
            Err(other) => Err(other),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// "subject CN=kafka-1, names kafka-1.example.com, 10.0.0.5" of a DER
/// certificate, or what could be read of it.
pub fn describe_certificate(der: &[u8]) -> String {
    use x509_cert::der::oid::AssociatedOid;
    use x509_cert::der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return "an undecodable certificate".to_string();
    };
    let subject = cert.tbs_certificate.subject.to_string();
    let mut names = Vec::new();
    for extension in cert.tbs_certificate.extensions.iter().flatten() {
        if extension.extn_id != x509_cert::ext::pkix::SubjectAltName::OID {
            continue;
        }
        if let Ok(san) =
            x509_cert::ext::pkix::SubjectAltName::from_der(extension.extn_value.as_bytes())
        {
            for name in san.0 {
                match name {
                    x509_cert::ext::pkix::name::GeneralName::DnsName(dns) => {
                        names.push(dns.to_string())
                    }
                    x509_cert::ext::pkix::name::GeneralName::IpAddress(ip) => {
                        let bytes = ip.as_bytes();
                        let shown = match bytes.len() {
                            4 => <[u8; 4]>::try_from(bytes)
                                .map(|b| std::net::IpAddr::from(b).to_string())
                                .unwrap_or_default(),
                            16 => <[u8; 16]>::try_from(bytes)
                                .map(|b| std::net::IpAddr::from(b).to_string())
                                .unwrap_or_default(),
                            _ => String::new(),
                        };
                        names.push(shown);
                    }
                    _ => {}
                }
            }
        }
    }
    if names.is_empty() {
        format!("subject {subject}, no alternative names")
    } else {
        format!("subject {subject}, names {}", names.join(", "))
    }
}

/// Seconds since the epoch as an RFC 3339 UTC time, for messages.
fn utc_time(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{seconds} s after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_encrypted_keys_get_the_conversion_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.key");
        std::fs::write(
            &path,
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = read_key(&path, Some("pw")).unwrap_err();
        assert!(error.contains("openssl pkcs8 -topk8"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn missing_files_and_empty_pem_name_the_property() {
        let error = read_key(Path::new("/nonexistent/k.pem"), None).unwrap_err();
        assert!(
            error.contains("ssl.key.location /nonexistent/k.pem"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let error = read_certificates(&empty, "ssl.ca.location").unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");
        let error = read_key(&empty, None).unwrap_err();
        assert!(error.contains("holds no PEM private key"), "{error}");
    }
}
