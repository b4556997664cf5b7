//! Security notices to the account's email: an authenticator added or removed, a recovery code
//! used or new ones made, a sign-in from a browser not seen before, the second factor blocked after too many
//! unfinished challenges, a sign-in stopped because its challenge was passed in another browser.
//!
//! **The identity server owns notices.** Authsignal's Server API has no documented "send this
//! email" call (whether a tenant's action rules could send arbitrary notices is unverified), so
//! this server decides when a notice is due, renders its plain text ([`render`]) and hands it to
//! a transport ([`transport`]): the emulator's dev outbox (`POST /dev/notices`, the default
//! against a local emulator), a mail server over SMTP (`lettre`, TLS verified), or none.
//!
//! **A login never waits for a notice.** Handlers call [`Notifier::notify`], which puts an
//! [`Event`] (subject and kind, no address) on a bounded queue and returns; a full queue drops the
//! event with a WARN (the subject only, never the address) and counts it. One background worker
//! takes the events in order: it looks the account up (no email, no notice), applies the
//! per-account cap ([`cap::AccountCap`]: `max_per_account_per_hour`, counted in this replica's
//! memory in a bounded map), renders the notice and sends it, each attempt under
//! `send_timeout_ms`, at most `max_attempts` attempts with doubling back-off. Addresses and
//! bodies are logged at DEBUG at most.
//!
//! Text: plain, short, no secret, no link that carries a token; every notice ends with what to do
//! if it was not the account's owner, pointing to the Manage MFA and Sessions pages (absolute
//! URLs from the issuer).

pub mod browser;
pub mod cap;
pub mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::users::Users;
use transport::Transport;

/// The notices settings (section `notices`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeSettings {
    /// `"emulator-outbox"`, `"smtp"` or `"none"`. Unset (the default): the emulator's outbox when
    /// Authsignal is a local emulator (`account.authsignal.api_url` on a loopback host), else
    /// `"none"`, with a warning at start-up.
    pub transport: Option<TransportKind>,
    /// Where `"emulator-outbox"` posts; default: `/dev/notices` at the origin of
    /// `account.authsignal.api_url`.
    pub outbox_url: Option<String>,
    /// The mail server of `"smtp"` (section `notices.smtp`).
    pub smtp: Option<transport::SmtpSettings>,
    /// Events waiting at most; beyond it new ones are dropped (default 1000).
    pub queue_capacity: usize,
    /// Attempts per notice, the first included (default 3).
    pub max_attempts: u32,
    /// Time allowed for one attempt, in milliseconds (default 5000).
    pub send_timeout_ms: u64,
    /// Wait before the second attempt, in milliseconds; doubled before each further one
    /// (default 500).
    pub first_backoff_ms: u64,
    /// Notices per account per rolling hour; the rest are dropped (default 20).
    pub max_per_account_per_hour: u32,
    /// Accounts whose notices of the last hour are remembered for the cap (default 10000);
    /// when the map is full, a notice for an account not in it is dropped.
    pub tracked_accounts: usize,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        Self {
            transport: None,
            outbox_url: None,
            smtp: None,
            queue_capacity: 1000,
            max_attempts: 3,
            send_timeout_ms: 5000,
            first_backoff_ms: 500,
            max_per_account_per_hour: 20,
            tracked_accounts: 10_000,
        }
    }
}

/// How notices leave the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// `POST /dev/notices` of the Authsignal emulator in development mode.
    EmulatorOutbox,
    /// Real email through a mail server (`notices.smtp`).
    Smtp,
    /// Not sent: users are not told of security events.
    None,
}

impl NoticeSettings {
    /// Checks the values; the error names the key and quotes the bad value.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value, max) in [
            ("queue_capacity", self.queue_capacity as u64, 1_000_000),
            ("max_attempts", u64::from(self.max_attempts), 10),
            ("send_timeout_ms", self.send_timeout_ms, 60_000),
            ("first_backoff_ms", self.first_backoff_ms, 60_000),
            (
                "max_per_account_per_hour",
                u64::from(self.max_per_account_per_hour),
                1000,
            ),
            ("tracked_accounts", self.tracked_accounts as u64, 10_000_000),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!(
                    "notices.{key}: must be between 1 and {max}, got \"{value}\""
                ));
            }
        }
        match (&self.transport, &self.smtp) {
            (Some(TransportKind::Smtp), None) => {
                return Err(
                    "notices.smtp: the smtp transport needs its section (host, from)".into(),
                );
            }
            (_, Some(smtp)) => smtp.validate()?,
            _ => {}
        }
        if let Some(url) = &self.outbox_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| format!("notices.outbox_url: \"{url}\" is not a url: {e}"))?;
            if parsed.scheme() != "https" {
                return Err(format!("notices.outbox_url: must be https, got \"{url}\""));
            }
        }
        Ok(())
    }

    /// The transport in force: the configured one, else the emulator's outbox when `api_url`
    /// is on a loopback host (a local emulator), else none.
    pub fn effective_transport(&self, api_url: &str) -> TransportKind {
        self.transport.unwrap_or_else(|| {
            if is_loopback_url(api_url) {
                TransportKind::EmulatorOutbox
            } else {
                TransportKind::None
            }
        })
    }

    fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }
}

/// Whether `url` names `localhost` or a loopback address.
fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// What happened, as the notice tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// An authenticator was added (`method`: "Authenticator app", "Passkey", ...).
    AuthenticatorAdded {
        /// Its label ([`crate::account::mfa::method_label`]).
        method: &'static str,
    },
    /// An authenticator was removed.
    AuthenticatorRemoved {
        /// Its label.
        method: &'static str,
    },
    /// The account's first authenticators were enrolled: the worker reads them from Authsignal
    /// and sends an [`NoticeKind::AuthenticatorAdded`] for each.
    FirstEnrollment,
    /// A recovery code was used for a sign-in or a confirmation.
    RecoveryCodeUsed,
    /// New recovery codes were made (the old ones stopped working).
    RecoveryCodesRegenerated,
    /// A sign-in from a browser this account has not used before (as far as its cookie tells).
    NewBrowser {
        /// "Chrome on Linux" ([`crate::user_agent::label`]).
        browser: String,
        /// The client address, as the sessions page shows it.
        address: String,
        /// The application signed in to.
        application: String,
    },
    /// The second factor is blocked until `until` (unix seconds) after too many unfinished
    /// or failed verifications.
    SecondFactorBlocked {
        /// End of the block.
        until: i64,
    },
    /// A sign-in was stopped: its challenge was passed in a browser that did not do its
    /// password step.
    SignInStopped,
}

impl NoticeKind {
    /// A short name for logs and the outbox (`authenticator-added`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::AuthenticatorAdded { .. } => "authenticator-added",
            Self::AuthenticatorRemoved { .. } => "authenticator-removed",
            Self::FirstEnrollment => "first-enrollment",
            Self::RecoveryCodeUsed => "recovery-code-used",
            Self::RecoveryCodesRegenerated => "recovery-codes-regenerated",
            Self::NewBrowser { .. } => "new-browser",
            Self::SecondFactorBlocked { .. } => "second-factor-blocked",
            Self::SignInStopped => "sign-in-stopped",
        }
    }
}

/// A rendered notice, ready for a transport.
#[derive(Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it is about ([`NoticeKind::name`]).
    pub kind: &'static str,
    /// The account's email address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address and the body stay out of logs.
        f.debug_struct("Notice")
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// `unix` seconds as `2026-12-01 16:25 UTC`.
fn time_words(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(
        || "an unknown time".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The subject and text of `kind` for `username`, at `at` (unix seconds). `issuer` is the
/// identity server's public base URL, for the "what to do" line. `None` for
/// [`NoticeKind::FirstEnrollment`], which the worker turns into other notices.
pub fn render(
    kind: &NoticeKind,
    username: &str,
    at: i64,
    issuer: &str,
) -> Option<(String, String)> {
    let issuer = issuer.trim_end_matches('/');
    let when = time_words(at);
    let (subject, what) = match kind {
        NoticeKind::AuthenticatorAdded { method } => (
            format!("{method} added to your account"),
            format!("{method} was added as a way to verify it's you, on {when}."),
        ),
        NoticeKind::AuthenticatorRemoved { method } => (
            format!("{method} removed from your account"),
            format!("{method} was removed from the ways to verify it's you, on {when}."),
        ),
        NoticeKind::FirstEnrollment => return None,
        NoticeKind::RecoveryCodeUsed => (
            "A recovery code was used".to_owned(),
            format!(
                "One of your recovery codes was used to verify it's you, on {when}. It no longer works."
            ),
        ),
        NoticeKind::RecoveryCodesRegenerated => (
            "New recovery codes for your account".to_owned(),
            format!(
                "New recovery codes were made for your account on {when}. The old ones no longer work."
            ),
        ),
        NoticeKind::NewBrowser {
            browser,
            address,
            application,
        } => (
            "Sign-in from a new browser".to_owned(),
            format!(
                "Your account was used to sign in to {application} from a browser not seen before for it.\n\nBrowser: {browser}\nAddress: {address}\nTime: {when}"
            ),
        ),
        NoticeKind::SecondFactorBlocked { until } => (
            "Two-step verification blocked for now".to_owned(),
            format!(
                "There were too many unfinished or failed verifications for your account. Two-step verification is blocked until {} (started {when}). Whoever tried had your password or was signed in to your account.",
                time_words(*until)
            ),
        ),
        NoticeKind::SignInStopped => (
            "A sign-in to your account was stopped".to_owned(),
            format!(
                "On {when} a verification of your account was passed in a browser that had not entered the password. The sign-in it belonged to was stopped. Someone who has your password may have sent you the link."
            ),
        ),
    };
    let text = format!(
        "Hello {username},\n\n{what}\n\nIf this was you, there is nothing to do.\n\nIf this wasn't you: change your password, check your two-step verification at {issuer}{mfa} and sign out the sessions you don't know at {issuer}{sessions}.\n",
        mfa = crate::account::mfa::PAGE_PATH,
        sessions = crate::account::sessions::PATH,
    );
    Some((subject, text))
}

/// What a handler reports: whose account, what happened, when. No address: the worker looks
/// it up.
#[derive(Clone, Debug)]
pub struct Event {
    /// The account's subject.
    pub subject: String,
    /// What happened.
    pub kind: NoticeKind,
    /// When (unix seconds).
    pub at: i64,
}

/// Counters of what became of the events (this replica's, since start-up).
#[derive(Debug, Default)]
pub struct NoticeCounters {
    /// Accepted onto the queue.
    pub queued: AtomicU64,
    /// Dropped because the queue was full (or the worker gone).
    pub dropped_queue_full: AtomicU64,
    /// Dropped by the per-account cap (or its full map).
    pub dropped_cap: AtomicU64,
    /// The account has no email (or is gone): nothing to send.
    pub no_recipient: AtomicU64,
    /// Handed to the transport successfully.
    pub sent: AtomicU64,
    /// Given up after the last attempt, or refused by the transport.
    pub failed: AtomicU64,
    /// Not sent: the transport is `none`.
    pub not_sent: AtomicU64,
    /// Events the worker has finished with, whatever became of them.
    pub done: AtomicU64,
}

impl NoticeCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The handle on the notice queue (the worker ends when it is dropped).
pub struct Notifier {
    queue: mpsc::Sender<Event>,
    counters: Arc<NoticeCounters>,
    browser_key: [u8; 32],
    transport_kind: TransportKind,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("transport", &self.transport_kind)
            .finish_non_exhaustive()
    }
}

/// What the worker needs besides the events.
#[derive(Debug)]
pub struct WorkerContext {
    /// The accounts (for the address and the name).
    pub users: Users,
    /// Authsignal, for the authenticators of a first enrollment.
    pub authsignal: authsignal_sdk::Client,
    /// The issuer, for the links to the account pages.
    pub issuer: String,
}

impl Notifier {
    /// Builds the transport and starts the worker on the current tokio runtime. `csrf_key` is
    /// the key every replica shares; the known-browser tags use a key derived from it.
    pub fn start(
        settings: &NoticeSettings,
        authsignal: &crate::account::AuthsignalSettings,
        ca_pem: &str,
        csrf_key: &[u8; 32],
        context: WorkerContext,
    ) -> Result<Notifier, String> {
        settings.validate()?;
        let kind = settings.effective_transport(&authsignal.api_url);
        let transport = match kind {
            TransportKind::EmulatorOutbox => {
                Transport::emulator_outbox(settings, authsignal, ca_pem)?
            }
            TransportKind::Smtp => match &settings.smtp {
                Some(smtp) => Transport::smtp(smtp, settings.send_timeout())?,
                None => return Err("notices.smtp: the smtp transport needs its section".into()),
            },
            TransportKind::None => {
                tracing::warn!(
                    "NOTICES ARE OFF (notices.transport = \"none\"): users are not told of security events (an authenticator added or removed, a recovery code used, a sign-in from a new browser, the second factor blocked)"
                );
                Transport::None
            }
        };
        let counters = Arc::new(NoticeCounters::default());
        let (queue, receiver) = mpsc::channel::<Event>(settings.queue_capacity);
        let worker = Worker {
            transport,
            cap: cap::AccountCap::new(
                settings.max_per_account_per_hour,
                3600,
                settings.tracked_accounts,
            ),
            context,
            counters: counters.clone(),
            max_attempts: settings.max_attempts,
            send_timeout: settings.send_timeout(),
            first_backoff: Duration::from_millis(settings.first_backoff_ms),
        };
        tokio::spawn(worker.run(receiver));
        Ok(Notifier {
            queue,
            counters,
            browser_key: browser::derive_key(csrf_key),
            transport_kind: kind,
        })
    }

    /// Reports `kind` for the account `subject`. Never waits: a full queue drops the event,
    /// logged with the subject only, and counted.
    pub fn notify(&self, subject: &str, kind: NoticeKind) {
        if self.transport_kind == TransportKind::None {
            NoticeCounters::add(&self.counters.not_sent);
            return;
        }
        let name = kind.name();
        let event = Event {
            subject: subject.to_owned(),
            kind,
            at: crate::oidc::now(),
        };
        match self.queue.try_send(event) {
            Ok(()) => NoticeCounters::add(&self.counters.queued),
            Err(e) => {
                let reason = match e {
                    mpsc::error::TrySendError::Full(_) => "full",
                    mpsc::error::TrySendError::Closed(_) => "closed",
                };
                NoticeCounters::add(&self.counters.dropped_queue_full);
                tracing::warn!(
                    subject,
                    kind = name,
                    reason,
                    "notice dropped: the notice queue refused it"
                );
            }
        }
    }

    /// What became of the events so far.
    pub fn counters(&self) -> &NoticeCounters {
        &self.counters
    }

    /// The transport in force.
    pub fn transport(&self) -> TransportKind {
        self.transport_kind
    }

    /// The key of the known-browser tags ([`browser`]).
    pub fn browser_key(&self) -> &[u8; 32] {
        &self.browser_key
    }
}

/// The background worker: one event at a time.
struct Worker {
    transport: Transport,
    cap: cap::AccountCap,
    context: WorkerContext,
    counters: Arc<NoticeCounters>,
    max_attempts: u32,
    send_timeout: Duration,
    first_backoff: Duration,
}

impl Worker {
    async fn run(mut self, mut receiver: mpsc::Receiver<Event>) {
        while let Some(event) = receiver.recv().await {
            self.handle(event).await;
            NoticeCounters::add(&self.counters.done);
        }
    }

    async fn handle(&mut self, event: Event) {
        let user = match self.context.users.find_by_subject(&event.subject).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                NoticeCounters::add(&self.counters.no_recipient);
                return;
            }
            Err(e) => {
                NoticeCounters::add(&self.counters.failed);
                tracing::warn!(subject = %event.subject, error = %e, "notice not sent: the account could not be read");
                return;
            }
        };
        let Some(to) = user.email.clone().filter(|e| !e.trim().is_empty()) else {
            NoticeCounters::add(&self.counters.no_recipient);
            tracing::info!(subject = %event.subject, kind = event.kind.name(), "notice not sent: the account has no email");
            return;
        };
        let kinds = match &event.kind {
            NoticeKind::FirstEnrollment => {
                match self
                    .context
                    .authsignal
                    .get_authenticators(&event.subject)
                    .await
                {
                    Ok(list) => list
                        .iter()
                        .map(|a| NoticeKind::AuthenticatorAdded {
                            method: crate::account::mfa::method_label(&a.verification_method),
                        })
                        .take(10)
                        .collect(),
                    Err(e) => {
                        NoticeCounters::add(&self.counters.failed);
                        tracing::warn!(subject = %event.subject, error = %e, "notice not sent: the new authenticators could not be read");
                        return;
                    }
                }
            }
            other => vec![other.clone()],
        };
        for kind in kinds {
            let Some((subject, text)) =
                render(&kind, &user.username, event.at, &self.context.issuer)
            else {
                continue;
            };
            if !self.cap.allow(&event.subject, crate::oidc::now()) {
                NoticeCounters::add(&self.counters.dropped_cap);
                tracing::warn!(subject = %event.subject, kind = kind.name(), "notice dropped: the account reached its notices per hour");
                continue;
            }
            let notice = Notice {
                kind: kind.name(),
                to: to.clone(),
                subject,
                text,
            };
            self.send(&event.subject, &notice).await;
        }
    }

    /// Sends with bounded attempts, each under the timeout.
    async fn send(&self, subject: &str, notice: &Notice) {
        let mut backoff = self.first_backoff;
        for attempt in 1..=self.max_attempts {
            let result = tokio::time::timeout(self.send_timeout, self.transport.send(notice)).await;
            let retry = match result {
                Ok(Ok(())) => {
                    NoticeCounters::add(&self.counters.sent);
                    tracing::info!(subject, kind = notice.kind, "notice sent");
                    tracing::debug!(subject, to = %notice.to, "notice recipient");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(subject, kind = notice.kind, attempt, error = %e, "notice not delivered");
                    e.is_retryable()
                }
                Err(_) => {
                    tracing::warn!(
                        subject,
                        kind = notice.kind,
                        attempt,
                        "notice not delivered: timed out"
                    );
                    true
                }
            };
            if !retry || attempt == self.max_attempts {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
        NoticeCounters::add(&self.counters.failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_is_plain_text_with_what_to_do_and_no_secret() {
        let kinds = [
            NoticeKind::AuthenticatorAdded { method: "Passkey" },
            NoticeKind::AuthenticatorRemoved {
                method: "Email code",
            },
            NoticeKind::RecoveryCodeUsed,
            NoticeKind::RecoveryCodesRegenerated,
            NoticeKind::NewBrowser {
                browser: "Chrome on Linux".into(),
                address: "203.0.113.7".into(),
                application: "Web client".into(),
            },
            NoticeKind::SecondFactorBlocked {
                until: 1_800_000_900,
            },
            NoticeKind::SignInStopped,
        ];
        for kind in kinds {
            let (subject, text) =
                render(&kind, "alice", 1_800_000_000, "https://idp.example/").unwrap();
            assert!(!subject.is_empty() && subject.len() < 100, "{subject}");
            assert!(text.starts_with("Hello alice,"), "{text}");
            assert!(
                text.contains("https://idp.example/Account/Mfa")
                    && text.contains("https://idp.example/Account/Sessions"),
                "{text}"
            );
            assert!(text.contains("2027-01-15 08:00 UTC"), "{text}");
            assert!(!text.contains('<'), "plain text: {text}");
            assert!(!text.contains("token"), "{text}");
        }
        assert!(render(&NoticeKind::FirstEnrollment, "a", 0, "https://i").is_none());
        let (_, blocked) = render(
            &NoticeKind::SecondFactorBlocked {
                until: 1_800_000_900,
            },
            "alice",
            1_800_000_000,
            "https://i",
        )
        .unwrap();
        assert!(blocked.contains("until 2027-01-15 08:15 UTC"), "{blocked}");
    }

    #[test]
    fn the_default_transport_is_the_outbox_of_a_local_emulator_else_none() {
        let s = NoticeSettings::default();
        assert_eq!(s.validate(), Ok(()));
        for local in [
            "https://localhost:5003/v1",
            "https://127.0.0.1:5003/v1",
            "https://[::1]:5003/v1",
        ] {
            assert_eq!(s.effective_transport(local), TransportKind::EmulatorOutbox);
        }
        assert_eq!(
            s.effective_transport("https://api.authsignal.com/v1"),
            TransportKind::None
        );
        let none = NoticeSettings {
            transport: Some(TransportKind::None),
            ..Default::default()
        };
        assert_eq!(
            none.effective_transport("https://localhost:5003/v1"),
            TransportKind::None
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let zero = NoticeSettings {
            queue_capacity: 0,
            ..Default::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .starts_with("notices.queue_capacity")
        );
        let plain = NoticeSettings {
            outbox_url: Some("http://localhost/dev/notices".into()),
            ..Default::default()
        };
        assert!(
            plain
                .validate()
                .unwrap_err()
                .starts_with("notices.outbox_url")
        );
    }

    #[test]
    fn a_notice_shows_neither_address_nor_body_in_debug() {
        let n = Notice {
            kind: "new-browser",
            to: "alice@example.com".into(),
            subject: "Sign-in from a new browser".into(),
            text: "secret body".into(),
        };
        let shown = format!("{n:?}");
        assert!(
            !shown.contains("alice@") && !shown.contains("secret body"),
            "{shown}"
        );
    }
}
