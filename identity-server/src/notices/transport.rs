//! How a rendered [`Notice`] leaves the server.
//!
//! - `emulator-outbox`: `POST` of `{to, subject, text, kind}` as JSON to the Authsignal
//!   emulator's `/dev/notices` (served only in its development mode), over HTTPS with the
//!   Server API secret as Basic credentials, like the SDK's calls. The client trusts the
//!   identity server's development CA and `account.authsignal.ca_file` besides the public roots;
//!   certificate checks are never turned off; redirects are not followed.
//! - `smtp`: real email through a mail server (`lettre`, async on tokio, rustls with ring):
//!   `tls = "starttls"` (the default, port 587: STARTTLS required, never a plaintext fallback)
//!   or `"wrapper"` (TLS from the first byte, port 465), the certificate verified against
//!   Mozilla's roots and the optional `ca_file`; `"none"` (plain TCP) is accepted only for a
//!   loopback host (a local relay or a test sink). Credentials are redacted in `Debug`.
//! - `none`: nothing is sent (start-up warns).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use lettre::AsyncTransport as _;
use serde::Deserialize;

use super::{Notice, NoticeSettings};
use crate::account::AuthsignalSettings;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection failed or the answer was a 5xx or 429: worth another attempt.
    #[error("transient: {0}")]
    Transient(String),
    /// The transport refused the notice (a 4xx): another attempt would fail the same way.
    #[error("refused: {0}")]
    Refused(String),
}

impl SendError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// The mail server of the `smtp` transport (section `notices.smtp`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name of the mail server (its certificate must name it).
    pub host: String,
    /// Port (default 587 for `starttls`, 465 for `wrapper`, 25 for `none`).
    #[serde(default)]
    pub port: Option<u16>,
    /// `"starttls"` (default), `"wrapper"`, or `"none"` (loopback hosts only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The sender, e.g. `Identity server <no-reply@example.com>`.
    pub from: String,
    /// User name for `AUTH`, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `AUTH`.
    #[serde(default)]
    pub password: Option<SmtpPassword>,
    /// An extra CA (PEM) to trust besides Mozilla's roots, e.g. a development CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .field("username", &self.username.as_ref().map(|_| "[redacted]"))
            .field("password", &self.password)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpTls {
    /// Plain first, then `STARTTLS`, required.
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS).
    Wrapper,
    /// No TLS at all: only for a loopback host.
    None,
}

/// The SMTP password (redacted in `Debug`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    /// A password.
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }
}

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpPassword([redacted])")
    }
}

/// Whether `host` is `localhost` or a loopback address.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpSettings {
    /// Checks the values; the error names the key and quotes the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() || self.host.chars().any(char::is_whitespace) {
            return Err(format!(
                "notices.smtp.host: must be a host name, got \"{}\"",
                self.host
            ));
        }
        if self.tls == SmtpTls::None && !is_loopback_host(&self.host) {
            return Err(format!(
                "notices.smtp.tls: \"none\" sends mail and credentials in the clear and is accepted only for a loopback host, got \"{}\"",
                self.host
            ));
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("notices.smtp.from: \"{}\" is not a mailbox: {e}", self.from))?;
        if self.username.is_some() != self.password.is_some() {
            return Err("notices.smtp.username: username and password go together".into());
        }
        Ok(())
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Wrapper => 465,
            SmtpTls::None => 25,
        })
    }
}

/// A configured transport.
pub enum Transport {
    /// The emulator's dev outbox.
    EmulatorOutbox {
        /// One pooled client.
        http: reqwest::Client,
        /// `https://…/dev/notices`.
        url: String,
        /// `Basic base64("<secret>:")`.
        authorization: String,
    },
    /// A mail server.
    Smtp {
        /// The transport (one connection per notice).
        mailer: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        /// The sender.
        from: lettre::message::Mailbox,
    },
    /// Nothing is sent.
    None,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::EmulatorOutbox { url, .. } => f
                .debug_struct("EmulatorOutbox")
                .field("url", url)
                .finish_non_exhaustive(),
            Transport::Smtp { from, .. } => f
                .debug_struct("Smtp")
                .field("from", &from.to_string())
                .finish_non_exhaustive(),
            Transport::None => f.write_str("None"),
        }
    }
}

/// `/dev/notices` at the origin of the Server API URL.
pub fn default_outbox_url(api_url: &str) -> Result<String, String> {
    let mut url = url::Url::parse(api_url)
        .map_err(|e| format!("account.authsignal.api_url: \"{api_url}\" is not a url: {e}"))?;
    url.set_path("/dev/notices");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.to_string())
}

impl Transport {
    /// The emulator outbox transport for these settings.
    pub fn emulator_outbox(
        settings: &NoticeSettings,
        authsignal: &AuthsignalSettings,
        ca_pem: &str,
    ) -> Result<Transport, String> {
        let url = match &settings.outbox_url {
            Some(url) => url.clone(),
            None => default_outbox_url(&authsignal.api_url)?,
        };
        // The Server API secret goes with every notice: only to the host it already goes to.
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        };
        match (host(&url), host(&authsignal.api_url)) {
            (Some(a), Some(b)) if a == b => {}
            _ => {
                return Err(format!(
                    "notices.outbox_url: \"{url}\" must be on the host of account.authsignal.api_url (the Server API secret is sent with each notice)"
                ));
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.send_timeout())
            .connect_timeout(settings.send_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "identity-server/",
                env!("CARGO_PKG_VERSION"),
                " notices"
            ));
        let mut pems = vec![ca_pem.as_bytes().to_vec()];
        if let Some(path) = &authsignal.ca_file {
            pems.push(std::fs::read(path).map_err(|e| {
                format!(
                    "account.authsignal.ca_file: cannot read \"{}\": {e}",
                    path.display()
                )
            })?);
        }
        for pem in pems.iter().filter(|p| !p.trim_ascii().is_empty()) {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("notices: a trusted ca is not pem: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| format!("notices: cannot build the http client: {e}"))?;
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:", authsignal.secret.expose()))
        );
        Ok(Transport::EmulatorOutbox {
            http,
            url,
            authorization,
        })
    }

    /// The SMTP transport for `settings`; each attempt is bounded by `timeout`.
    pub fn smtp(settings: &SmtpSettings, timeout: Duration) -> Result<Transport, String> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        settings.validate()?;
        let from = settings
            .from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("notices.smtp.from: {e}"))?;
        let tls_parameters = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "notices.smtp.ca_file: cannot read \"{}\": {e}",
                        path.display()
                    )
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    format!(
                        "notices.smtp.ca_file: \"{}\" is not pem: {e}",
                        path.display()
                    )
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| format!("notices.smtp: tls: {e}"))
        };
        let tls = match settings.tls {
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Wrapper => Tls::Wrapper(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&settings.host)
                .port(settings.port())
                .tls(tls)
                .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Transport::Smtp {
            mailer: builder.build(),
            from,
        })
    }

    /// Hands `notice` over once (the caller times it out and retries).
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        match self {
            Transport::None => Ok(()),
            Transport::Smtp { mailer, from } => {
                // A bare address (`local@domain`), parsed whole: no display name, no list.
                let to = notice
                    .to
                    .parse::<lettre::Address>()
                    .map(|address| lettre::message::Mailbox::new(None, address))
                    .map_err(|e| {
                        SendError::Refused(format!("the recipient is not an address: {e}"))
                    })?;
                let message = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(notice.subject.clone())
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(notice.text.clone())
                    .map_err(|e| SendError::Refused(format!("the message cannot be built: {e}")))?;
                match mailer.send(message).await {
                    Ok(_) => Ok(()),
                    // A permanent (5xx) answer will not change on a retry. Only the reply code
                    // is kept: a server's text may quote the recipient's address.
                    Err(e) if e.is_permanent() => Err(SendError::Refused(smtp_reason(&e))),
                    Err(e) => Err(SendError::Transient(smtp_reason(&e))),
                }
            }
            Transport::EmulatorOutbox {
                http,
                url,
                authorization,
            } => {
                let body = serde_json::json!({
                    "to": notice.to,
                    "subject": notice.subject,
                    "text": notice.text,
                    "kind": notice.kind,
                });
                let answer = http
                    .post(url)
                    .header(reqwest::header::AUTHORIZATION, authorization)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
                let status = answer.status();
                if status.is_success() {
                    Ok(())
                } else if status.is_server_error() || status.as_u16() == 429 {
                    Err(SendError::Transient(format!("status {}", status.as_u16())))
                } else {
                    Err(SendError::Refused(format!("status {}", status.as_u16())))
                }
            }
        }
    }
}

/// What a failed SMTP send is logged as: the reply code, or the kind of failure, never the
/// server's text.
fn smtp_reason(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("smtp reply {code}"),
        None if e.is_timeout() => "smtp timeout".to_owned(),
        None => "smtp connection or tls failure".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_is_at_the_origin_of_the_server_api() {
        assert_eq!(
            default_outbox_url("https://localhost:5003/v1").unwrap(),
            "https://localhost:5003/dev/notices"
        );
        assert!(default_outbox_url("not a url").is_err());
    }

    fn smtp(host: &str, tls: SmtpTls) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: None,
            tls,
            from: "Identity server <no-reply@example.com>".into(),
            username: Some("mailer".into()),
            password: Some(SmtpPassword::new("hunter2")),
            ca_file: None,
        }
    }

    #[test]
    fn plaintext_smtp_is_refused_for_a_host_that_is_not_loopback() {
        for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            assert_eq!(smtp(host, SmtpTls::None).validate(), Ok(()), "{host}");
        }
        let e = smtp("mail.example.com", SmtpTls::None)
            .validate()
            .unwrap_err();
        assert!(e.starts_with("notices.smtp.tls"), "{e}");
        assert!(smtp("10.0.0.5", SmtpTls::None).validate().is_err());
        assert_eq!(
            smtp("mail.example.com", SmtpTls::Starttls).validate(),
            Ok(())
        );
        let bad_from = SmtpSettings {
            from: "not a mailbox".into(),
            ..smtp("mail.example.com", SmtpTls::Wrapper)
        };
        assert!(
            bad_from
                .validate()
                .unwrap_err()
                .starts_with("notices.smtp.from")
        );
    }

    #[test]
    fn smtp_credentials_are_redacted_in_debug() {
        let s = smtp("mail.example.com", SmtpTls::Starttls);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("mailer"),
            "{shown}"
        );
        let t = Transport::smtp(&s, Duration::from_secs(1)).unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn the_outbox_must_be_on_the_host_the_server_api_secret_already_goes_to() {
        let authsignal = AuthsignalSettings {
            api_url: "https://localhost:5003/v1".into(),
            ..Default::default()
        };
        for same in [
            "https://localhost:5003/dev/notices",
            "https://localhost:5004/dev/notices",
        ] {
            let settings = NoticeSettings {
                outbox_url: Some(same.into()),
                ..NoticeSettings::default()
            };
            assert!(
                Transport::emulator_outbox(&settings, &authsignal, "").is_ok(),
                "{same}"
            );
        }
        for elsewhere in [
            "https://collector.example.net/dev/notices",
            "https://127.0.0.1:5003/dev/notices",
            "https://localhost.example.net:5003/dev/notices",
        ] {
            let settings = NoticeSettings {
                outbox_url: Some(elsewhere.into()),
                ..NoticeSettings::default()
            };
            let e = Transport::emulator_outbox(&settings, &authsignal, "").unwrap_err();
            assert!(e.starts_with("notices.outbox_url"), "{elsewhere}: {e}");
        }
    }

    #[test]
    fn a_recipient_is_one_bare_address_parsed_whole() {
        assert!("alice@example.com".parse::<lettre::Address>().is_ok());
        for bad in [
            "a@x.com,b@y.com",
            "Alice <a@x.com>",
            "a@x.com\r\nBcc: c@z.com",
            "a@x.com b@y.com",
            "",
        ] {
            assert!(bad.parse::<lettre::Address>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_secret_does_not_show_in_debug() {
        let settings = NoticeSettings::default();
        let authsignal = AuthsignalSettings {
            secret: crate::account::AuthsignalSecret::new("very-secret"),
            ..Default::default()
        };
        let t = Transport::emulator_outbox(&settings, &authsignal, "").unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("Basic"),
            "{shown}"
        );
    }
}
