//! The AWS credentials MSK IAM tokens are signed with.
//!
//! Every build reads the standard environment variables AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. With the cargo feature
//! `msk-iam` (the container image has it) the credentials come from AWS's
//! own default chain instead (aws-config: the variables, shared
//! config/credentials files and `awsProfileName`, web identity / EKS IRSA,
//! SSO, ECS task roles, EC2 instance roles), optionally exchanged for the
//! role of `awsRoleArn`, and are fetched again shortly before they expire.
//! The chain is a few dozen crates, which is why it is a feature.
//!
//! Errors name the variables, the profile or the role, never a key.

use std::sync::Arc;

use super::msk_iam::AwsLogin;
use super::secret::Secret;
use super::sigv4::Credentials;

/// Credentials and when they expire (ms since the epoch), if they do.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub credentials: Credentials,
    pub expires_at_ms: Option<i64>,
}

type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where one token provider's credentials come from.
#[derive(Clone)]
pub struct AwsCredentials(Source);

#[derive(Clone)]
enum Source {
    /// AWS_* variables, read for each token.
    Env(Env),
    /// Given once (tests, and callers with their own credentials).
    Fixed(Resolved),
    #[cfg(feature = "msk-iam")]
    Chain(Arc<chain::Chain>),
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Source::Env(_) => "AwsCredentials(environment)",
            Source::Fixed(_) => "AwsCredentials(fixed)",
            #[cfg(feature = "msk-iam")]
            Source::Chain(_) => "AwsCredentials(default chain)",
        })
    }
}

/// Why `login` cannot work in this build, if it cannot: without the
/// feature only the environment variables are read, so a profile or a
/// role would be silently ignored.
pub fn unsupported(login: &AwsLogin) -> Option<String> {
    if cfg!(feature = "msk-iam") {
        return None;
    }
    let option = if login.profile.is_some() {
        "awsProfileName"
    } else if login.role_arn.is_some() {
        "awsRoleArn"
    } else {
        return None;
    };
    Some(format!(
        "{option} in the IAMLoginModule line needs AWS's credential chain, which this build of \
         kafka-pulse lacks: build it with `cargo build --release --features msk-iam` (the \
         container image has it), or drop {option} and give the credentials as \
         AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (e.g. from \
         `aws configure export-credentials --profile NAME --format env`)"
    ))
}

impl AwsCredentials {
    /// The credentials of `login` for tokens of `region`: AWS's chain with
    /// the feature, else the process's environment variables.
    pub fn for_login(login: &AwsLogin, region: &str) -> Self {
        #[cfg(feature = "msk-iam")]
        {
            AwsCredentials(Source::Chain(Arc::new(chain::Chain::new(
                login.clone(),
                region.to_string(),
            ))))
        }
        #[cfg(not(feature = "msk-iam"))]
        {
            let _ = (login, region);
            AwsCredentials::from_env(Arc::new(|name| std::env::var(name).ok()))
        }
    }

    /// The AWS_* variables as `env` gives them, read for each token.
    pub fn from_env(env: Env) -> Self {
        AwsCredentials(Source::Env(env))
    }

    pub fn fixed(credentials: Credentials, expires_at_ms: Option<i64>) -> Self {
        AwsCredentials(Source::Fixed(Resolved {
            credentials,
            expires_at_ms,
        }))
    }

    /// Credentials valid now.
    pub async fn get(&self) -> Result<Resolved, String> {
        match &self.0 {
            Source::Env(env) => Ok(Resolved {
                credentials: from_env(env.as_ref())?,
                expires_at_ms: None,
            }),
            Source::Fixed(resolved) => Ok(resolved.clone()),
            #[cfg(feature = "msk-iam")]
            Source::Chain(chain) => chain.get().await,
        }
    }
}

/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional)
/// AWS_SESSION_TOKEN.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id.trim().to_string(),
            secret_access_key: Secret::new(secret.trim()),
            session_token: get("AWS_SESSION_TOKEN").map(|t| Secret::new(t.trim())),
        }),
        (id, secret) => {
            let missing = match (id, secret) {
                (None, None) => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
                (None, _) => "AWS_ACCESS_KEY_ID is not set",
                _ => "AWS_SECRET_ACCESS_KEY is not set",
            };
            // Other credential sources the environment points at, which
            // this build cannot use: say so instead of only "not set".
            let elsewhere: Vec<&str> = [
                "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            ]
            .into_iter()
            .filter(|name| get(name).is_some())
            .collect();
            let hint = if elsewhere.is_empty() {
                String::new()
            } else {
                format!(" ({} is set)", elsewhere.join(", "))
            };
            Err(format!(
                "AWS MSK IAM has no AWS credentials: {missing}{hint}. This build of kafka-pulse \
                 reads only AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; \
                 profiles, web identity (EKS IRSA), ECS task roles and EC2 instance roles need \
                 a build with `--features msk-iam` (the container image has it)"
            ))
        }
    }
}

/// AWS's default credential chain (feature `msk-iam`).
#[cfg(feature = "msk-iam")]
mod chain {
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, UNIX_EPOCH};

    use aws_config::meta::region::RegionProviderChain;
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
    use aws_smithy_http_client::tls;

    use super::{AwsLogin, Credentials, Resolved, Secret};

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Credentials are fetched again this long before they expire (EC2
    /// and ECS hand out new ones at least 5 minutes ahead).
    const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
    /// Credentials without an expiry (keys in a file) are read again after
    /// this long, as the AWS SDKs' identity cache does.
    const NO_EXPIRY_RECHECK: Duration = Duration::from_secs(900);

    /// The chain's requests (IMDS, ECS, STS, SSO) run on one small runtime
    /// that lives as long as the process: rdkafka's token callback runs
    /// each request on a runtime of its own that ends with the request,
    /// which would leave the chain's pooled connections dead.
    fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
        static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("aws-credentials")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the AWS credential runtime: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub struct Chain {
        login: AwsLogin,
        region: String,
        provider: Arc<tokio::sync::OnceCell<SharedCredentialsProvider>>,
        cached: Mutex<Option<(Resolved, i64)>>,
    }

    impl Chain {
        pub fn new(login: AwsLogin, region: String) -> Self {
            Chain {
                login,
                region,
                provider: Default::default(),
                cached: Mutex::new(None),
            }
        }

        pub async fn get(&self) -> Result<Resolved, String> {
            let now = now_ms();
            if let Some((resolved, good_until)) = &*self.cached.lock().expect("poisoned") {
                if now < *good_until {
                    return Ok(resolved.clone());
                }
            }
            let (cell, login, region) = (
                self.provider.clone(),
                self.login.clone(),
                self.region.clone(),
            );
            let described = self.login.describe();
            let fetched = runtime()?
                .spawn(async move {
                    let provider = cell.get_or_try_init(|| build(login, region)).await?;
                    // The chain's errors say which sources it tried and why
                    // they failed; they carry no keys.
                    provider
                        .provide_credentials()
                        .await
                        .map_err(|e| error_chain(&e))
                })
                .await
                .map_err(|e| format!("the AWS credential lookup failed: {e}"))?
                .map_err(|why| {
                    format!("AWS MSK IAM found no usable AWS credentials ({described}): {why}")
                })?;
            let expires_at_ms = fetched.expiry().map(|t| {
                t.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            });
            let resolved = Resolved {
                credentials: Credentials {
                    access_key_id: fetched.access_key_id().to_string(),
                    secret_access_key: Secret::new(fetched.secret_access_key()),
                    session_token: fetched.session_token().map(Secret::new),
                },
                expires_at_ms,
            };
            let good_until = match expires_at_ms {
                Some(at) => at - EXPIRY_MARGIN.as_millis() as i64,
                None => now + NO_EXPIRY_RECHECK.as_millis() as i64,
            };
            *self.cached.lock().expect("poisoned") = Some((resolved.clone(), good_until));
            Ok(resolved)
        }
    }

    /// The default chain (for `login.profile` if set), then the role of
    /// `login.role_arn` assumed with it.
    async fn build(
        login: AwsLogin,
        msk_region: String,
    ) -> Result<SharedCredentialsProvider, String> {
        // rustls with ring, as every other TLS connection of kafka-pulse.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        // STS (web identity, roles) needs a region: the configured one, else
        // the cluster's. Not the EC2 metadata's, which off EC2 costs a
        // timeout and on EC2 is the cluster's region in practice.
        let mut profile_region = aws_config::profile::region::ProfileFileRegionProvider::builder();
        if let Some(profile) = &login.profile {
            profile_region = profile_region.profile_name(profile);
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(
                RegionProviderChain::first_try(
                    aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
                )
                .or_else(profile_region.build())
                .or_else(Region::new(msk_region)),
            );
        if let Some(profile) = &login.profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        // load() always sets the default chain; None is not expected.
        let base = config
            .credentials_provider()
            .ok_or("aws-config made no credential provider")?;
        let Some(role) = &login.role_arn else {
            return Ok(base);
        };
        let mut assume = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .configure(&config)
            .session_name(
                login
                    .role_session_name
                    .clone()
                    .unwrap_or_else(|| "kafka-pulse".into()),
            );
        if let Some(id) = &login.role_external_id {
            assume = assume.external_id(id.clone());
        }
        if let Some(region) = &login.sts_region {
            assume = assume.region(Region::new(region.clone()));
        }
        Ok(SharedCredentialsProvider::new(
            assume.build_from_provider(base).await,
        ))
    }

    /// An error and its sources, `: `-separated.
    fn error_chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_variables_and_what_is_missing() {
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIAEXAMPLE".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("hunter2-secret".to_string()),
            "AWS_SESSION_TOKEN" => Some("hunter2-session".to_string()),
            _ => None,
        };
        let credentials = from_env(&env).unwrap();
        assert_eq!(credentials.access_key_id, "AKIAEXAMPLE");
        assert_eq!(credentials.secret_access_key.expose(), "hunter2-secret");
        assert_eq!(
            credentials.session_token.as_ref().map(Secret::expose),
            Some("hunter2-session")
        );
        assert!(!format!("{credentials:?}").contains("hunter2"));

        let only_id = |name: &str| (name == "AWS_ACCESS_KEY_ID").then(|| "AKIA".to_string());
        let error = from_env(&only_id).unwrap_err();
        assert!(
            error.contains("AWS_SECRET_ACCESS_KEY is not set"),
            "{error}"
        );
        let only_secret =
            |name: &str| (name == "AWS_SECRET_ACCESS_KEY").then(|| "hunter2".to_string());
        let error = from_env(&only_secret).unwrap_err();
        assert!(error.contains("AWS_ACCESS_KEY_ID is not set"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let profile = |name: &str| (name == "AWS_PROFILE").then(|| "dev".to_string());
        let error = from_env(&profile).unwrap_err();
        assert!(
            error.contains("(AWS_PROFILE is set)") && error.contains("--features msk-iam"),
            "{error}"
        );
    }

    /// The chain reads a named profile from the shared files (the only
    /// test that sets AWS_* variables, and only in builds with the
    /// feature; EC2 metadata is turned off so nothing leaves the machine).
    #[cfg(feature = "msk-iam")]
    #[test]
    fn the_chain_reads_a_named_profile() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[pulse-test]\naws_access_key_id = AKIAPROFILEEXAMPLE\n\
             aws_secret_access_key = hunter2-profile-secret\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile pulse-test]\nregion = eu-north-1\n").unwrap();
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        std::env::set_var("AWS_CONFIG_FILE", &config);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let login = AwsLogin {
            profile: Some("pulse-test".into()),
            ..Default::default()
        };
        let source = AwsCredentials::for_login(&login, "eu-north-1");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let resolved = runtime.block_on(source.get()).unwrap();
        assert_eq!(resolved.credentials.access_key_id, "AKIAPROFILEEXAMPLE");
        assert_eq!(
            resolved.credentials.secret_access_key.expose(),
            "hunter2-profile-secret"
        );
        assert_eq!(resolved.expires_at_ms, None);
        // A second runtime (as rdkafka's callback uses) gets the cached ones.
        let again = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(source.get())
            .unwrap();
        assert_eq!(again.credentials, resolved.credentials);

        let missing = AwsCredentials::for_login(
            &AwsLogin {
                profile: Some("no-such-profile".into()),
                ..Default::default()
            },
            "eu-north-1",
        );
        let error = runtime.block_on(missing.get()).unwrap_err();
        assert!(
            error.contains("profile 'no-such-profile'") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn without_the_feature_a_profile_or_role_is_refused_with_the_way_out() {
        let plain = AwsLogin::default();
        assert_eq!(unsupported(&plain), None);
        let role = AwsLogin {
            role_arn: Some("arn:aws:iam::1:role/r".into()),
            ..Default::default()
        };
        let refused = unsupported(&role);
        assert_eq!(refused.is_none(), cfg!(feature = "msk-iam"));
        if let Some(error) = refused {
            assert!(
                error.contains("awsRoleArn") && error.contains("--features msk-iam"),
                "{error}"
            );
        }
    }
}
