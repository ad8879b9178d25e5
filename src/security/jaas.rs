//! `sasl.jaas.config`: the one login-module line Java clients are
//! configured with, e.g.
//! `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="…";`
//! Only the username and password of the PLAIN and SCRAM modules, and the
//! clientId, clientSecret and scope of the OAUTHBEARER module (Kafka's OIDC
//! client credentials, KIP-768), and the awsProfileName, awsRoleArn,
//! awsRoleSessionName, awsRoleExternalId and awsStsRegion of Amazon MSK's
//! `IAMLoginModule` are read; other modules get an error that says what is
//! supported.
//!
//! The syntax is what Kafka's `JaasConfig` accepts: a class name, a control
//! flag, `key=value` options (values bare or in single or double quotes,
//! with backslash escapes inside quotes) and a closing `;`. Errors never
//! quote an option's value.

use super::msk_iam::AwsLogin;
use super::secret::Secret;

/// What a PLAIN or SCRAM login module line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasLogin {
    pub module: LoginModule,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// OAuthBearerLoginModule's OIDC client credentials.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub scope: Option<String>,
    /// IAMLoginModule's choice of AWS identity.
    pub aws: AwsLogin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginModule {
    Plain,
    Scram,
    OAuthBearer,
    /// software.amazon.msk.auth.iam.IAMLoginModule (Amazon MSK IAM).
    AwsMskIam,
}

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const OAUTHBEARER_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";
const MSK_IAM_MODULE: &str = "software.amazon.msk.auth.iam.IAMLoginModule";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

pub fn parse(text: &str) -> Result<JaasLogin, String> {
    let tokens = tokenize(text)?;
    let mut tokens = tokens.into_iter().peekable();
    let module = match tokens.next() {
        Some(Token::Word(class)) => class,
        _ => return Err("sasl.jaas.config must start with a login module class name".into()),
    };
    let module = match module.as_str() {
        PLAIN_MODULE => LoginModule::Plain,
        SCRAM_MODULE => LoginModule::Scram,
        // Kafka < 3.1 named it ...internals.OAuthBearerLoginModule too.
        other if other.ends_with("OAuthBearerLoginModule") => LoginModule::OAuthBearer,
        MSK_IAM_MODULE => LoginModule::AwsMskIam,
        other if other.contains("Krb5LoginModule") => {
            return Err(format!(
                "sasl.jaas.config: {other} (Kerberos/GSSAPI) is not supported by kafka-pulse"
            ))
        }
        other => {
            return Err(format!(
                "sasl.jaas.config: unknown login module {other}; kafka-pulse supports \
                 {PLAIN_MODULE}, {SCRAM_MODULE}, {OAUTHBEARER_MODULE} and {MSK_IAM_MODULE}"
            ))
        }
    };
    match tokens.next() {
        Some(Token::Word(flag))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) => {}
        _ => {
            return Err(
                "sasl.jaas.config: the login module class must be followed by a control flag \
                 (required)"
                    .into(),
            )
        }
    }
    let mut username = None;
    let mut password = None;
    let mut client_id = None;
    let mut client_secret = None;
    let mut scope = None;
    let mut aws = AwsLogin::default();
    loop {
        match tokens.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if tokens.next() != Some(Token::Equals) {
                    return Err(format!(
                        "sasl.jaas.config: option {key} needs `=` and a value"
                    ));
                }
                let value = match tokens.next() {
                    Some(Token::Word(v)) | Some(Token::Quoted(v)) => v,
                    _ => return Err(format!("sasl.jaas.config: option {key} has no value")),
                };
                match key.as_str() {
                    "username" => username = Some(value),
                    "password" => password = Some(Secret::new(value)),
                    "clientId" => client_id = Some(value),
                    "clientSecret" => client_secret = Some(Secret::new(value)),
                    "scope" => scope = Some(value),
                    "awsProfileName" => aws.profile = Some(value),
                    "awsRoleArn" => aws.role_arn = Some(value),
                    "awsRoleSessionName" => aws.role_session_name = Some(value),
                    "awsRoleExternalId" => aws.role_external_id = Some(value),
                    "awsStsRegion" => aws.sts_region = Some(value),
                    // Other options (e.g. tokenauth, awsDebugCreds,
                    // awsMaxRetries) do not change what is sent.
                    _ => {}
                }
            }
            None => return Err("sasl.jaas.config must end with `;`".into()),
            Some(_) => return Err("sasl.jaas.config: expected option=value or `;`".into()),
        }
    }
    if tokens.next().is_some() {
        return Err(
            "sasl.jaas.config holds more than one login module; Kafka clients take exactly one"
                .into(),
        );
    }
    Ok(JaasLogin {
        module,
        username,
        password,
        client_id,
        client_secret,
        scope,
        aws,
    })
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            ';' => {
                chars.next();
                tokens.push(Token::Semicolon);
            }
            '"' | '\'' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some(c2) = chars.next() {
                    match c2 {
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(other) => value.push(other),
                            None => break,
                        },
                        c2 if c2 == c => {
                            closed = true;
                            break;
                        }
                        c2 => value.push(c2),
                    }
                }
                if !closed {
                    return Err("sasl.jaas.config has an unclosed quote".into());
                }
                tokens.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c2) = chars.peek() {
                    if c2.is_whitespace() || matches!(c2, '=' | ';' | '"' | '\'') {
                        break;
                    }
                    word.push(c2);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_scram_lines_as_vendors_print_them() {
        let login = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='S3CR=T;x';",
        )
        .unwrap();
        assert_eq!(login.module, LoginModule::Plain);
        assert_eq!(login.username.as_deref(), Some("KEY"));
        assert_eq!(login.password.unwrap().expose(), "S3CR=T;x");

        let login = parse(
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=\"my-user\"\n  password=\"a \\\"quoted\\\" one\";",
        )
        .unwrap();
        assert_eq!(login.module, LoginModule::Scram);
        assert_eq!(login.username.as_deref(), Some("my-user"));
        assert_eq!(login.password.unwrap().expose(), "a \"quoted\" one");

        let bare = parse("org.apache.kafka.common.security.scram.ScramLoginModule required username=bob password=pw tokenauth=false ;").unwrap();
        assert_eq!(bare.username.as_deref(), Some("bob"));
    }

    #[test]
    fn malformed_lines_say_why_without_the_password() {
        let cases = [
            "",
            "required username=\"a\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule username=\"a\" password=\"hunter2\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"hunter2\"",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2\"; x required;",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
            "software.amazon.msk.auth.iam.IAMLoginModule required",
        ];
        for case in cases {
            let error = parse(case).unwrap_err();
            assert!(error.contains("sasl.jaas.config"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn the_oauthbearer_module_gives_its_client_credentials() {
        let login = parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             clientId=\"pulse\" clientSecret=\"hunter2\" scope=\"kafka\";",
        )
        .unwrap();
        assert_eq!(login.module, LoginModule::OAuthBearer);
        assert_eq!(login.client_id.as_deref(), Some("pulse"));
        assert_eq!(login.client_secret.clone().unwrap().expose(), "hunter2");
        assert_eq!(login.scope.as_deref(), Some("kafka"));
        assert!(!format!("{login:?}").contains("hunter2"));
        let bare =
            parse("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;")
                .unwrap();
        assert_eq!(bare.client_id, None);
    }

    #[test]
    fn the_msk_iam_module_gives_its_profile_and_role() {
        let bare = parse("software.amazon.msk.auth.iam.IAMLoginModule required;").unwrap();
        assert_eq!(bare.module, LoginModule::AwsMskIam);
        assert_eq!(bare.aws, AwsLogin::default());
        let login = parse(
            "software.amazon.msk.auth.iam.IAMLoginModule required awsProfileName=\"prod\" \
             awsRoleArn=\"arn:aws:iam::123456789012:role/msk-reader\" awsRoleSessionName=\"pulse\" \
             awsStsRegion=\"eu-west-1\" awsDebugCreds=true;",
        )
        .unwrap();
        assert_eq!(login.aws.profile.as_deref(), Some("prod"));
        assert_eq!(
            login.aws.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/msk-reader")
        );
        assert_eq!(login.aws.role_session_name.as_deref(), Some("pulse"));
        assert_eq!(login.aws.sts_region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn the_debug_form_hides_the_password() {
        let login = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=hunter2;",
        )
        .unwrap();
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
