//! How a rendered [`Notice`] leaves the server.
//!
//! - `emulator-outbox`: `POST` of `{to, subject, text, kind}` as JSON to the Authsignal
//!   emulator's `/dev/notices` (served only in its development mode), over HTTPS with the
//!   Server API secret as Basic credentials, like the SDK's calls. The client trusts the
//!   identity server's development CA and `account.authsignal.ca_file` besides the public roots;
//!   certificate checks are never turned off; redirects are not followed.
//! - `none`: nothing is sent (start-up warns).

use base64::Engine;

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

    /// Hands `notice` over once (the caller times it out and retries).
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        match self {
            Transport::None => Ok(()),
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

    #[test]
    fn the_secret_does_not_show_in_debug() {
        let settings = NoticeSettings::default();
        let mut authsignal = AuthsignalSettings::default();
        authsignal.secret = crate::account::AuthsignalSecret::new("very-secret");
        let t = Transport::emulator_outbox(&settings, &authsignal, "").unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("Basic"),
            "{shown}"
        );
    }
}
