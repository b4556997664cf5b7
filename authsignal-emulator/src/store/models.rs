//! The records the emulator keeps. Durable ones (users, authenticators, recovery codes, actions)
//! are persisted by the embedded store; the others live in memory only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user of the tenant, created on first sight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The relying party's user id.
    pub user_id: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Phone number.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default)]
    pub phone_number_verified: bool,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Custom attributes.
    #[serde(default)]
    pub custom: Option<Map<String, Value>>,
    /// Locale.
    #[serde(default)]
    pub locale: Option<String>,
    /// The preferred verification method.
    #[serde(default)]
    pub default_verification_method: Option<String>,
    /// When the user was first seen.
    pub created_at: DateTime<Utc>,
    /// The WebAuthn user handle (base64url of 16 random bytes), made on the first passkey
    /// registration and never changed: never the user id, so a passkey does not carry it.
    #[serde(default)]
    pub webauthn_user_handle: Option<String>,
}

impl User {
    /// A user with only an id.
    pub fn new(user_id: &str, now: DateTime<Utc>) -> User {
        User {
            user_id: user_id.to_owned(),
            email: None,
            email_verified: false,
            phone_number: None,
            phone_number_verified: false,
            username: None,
            display_name: None,
            custom: None,
            locale: None,
            default_verification_method: None,
            created_at: now,
            webauthn_user_handle: None,
        }
    }
}

/// A passkey: registered through the Client API (verified there) or imported by batch
/// enrollment. Sign-in checks it against [`crate::domain::webauthn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyCredential {
    /// Credential id (base64url).
    pub credential_id: String,
    /// Public key: the COSE_Key CBOR bytes, base64url (the batch import's format).
    pub credential_public_key: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// AAGUID.
    #[serde(default)]
    pub aaguid: Option<String>,
    /// Transports.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    /// The signature counter last seen.
    #[serde(default)]
    pub sign_count: u32,
    /// The BE flag at registration.
    #[serde(default)]
    pub backup_eligible: bool,
    /// The BS flag last seen.
    #[serde(default)]
    pub backup_state: bool,
    /// COSE algorithm.
    #[serde(default)]
    pub algorithm: Option<i64>,
    /// `platform` or `cross-platform`, as the browser reported it.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// The device id of the registration.
    #[serde(default)]
    pub device_id: Option<String>,
    /// The browser's `User-Agent` at registration.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A verified authenticator of a user.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authenticator {
    /// Its id (a UUID).
    pub user_authenticator_id: String,
    /// The owner.
    pub user_id: String,
    /// `AUTHENTICATOR_APP`, `EMAIL_OTP`, `SMS`, ...
    pub verification_method: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Verified (enrollment confirmed).
    pub verified_at: DateTime<Utc>,
    /// Last used for a successful challenge.
    #[serde(default)]
    pub last_verified_at: Option<DateTime<Utc>>,
    /// Email (email methods).
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number (SMS, WhatsApp).
    #[serde(default)]
    pub phone_number: Option<String>,
    /// TOTP secret, base32 (authenticator app). Stored as is: it must keep working after a
    /// restart, and the data file is private to the emulator (mode 0600).
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    #[serde(default)]
    pub last_totp_step: Option<u64>,
    /// Whether this is the user's default authenticator.
    #[serde(default)]
    pub is_default: bool,
    /// Passkey data (batch enrollment).
    #[serde(default)]
    pub passkey: Option<PasskeyCredential>,
}

/// Identifies an action: (user id, action code, idempotency key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionKey {
    /// The user.
    pub user_id: String,
    /// The action code.
    pub action_code: String,
    /// The idempotency key.
    pub idempotency_key: String,
}

/// A tracked action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Which action.
    pub key: ActionKey,
    /// `ALLOW`, `CHALLENGE_REQUIRED`, ...
    pub state: String,
    /// When the state last changed.
    pub state_updated_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The method that completed the challenge.
    #[serde(default)]
    pub verification_method: Option<String>,
    /// The authenticator that completed the challenge.
    #[serde(default)]
    pub verified_by_authenticator_id: Option<String>,
    /// Where the hosted pages send the browser back to.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Show the settings page after the challenge.
    #[serde(default)]
    pub redirect_to_settings: bool,
    /// Email from the track attributes (offered for email OTP enrollment).
    #[serde(default)]
    pub email: Option<String>,
    /// Username from the track attributes (label of the TOTP account).
    #[serde(default)]
    pub username: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// User agent from the track attributes.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// IP address from the track attributes.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The configured outcome that decided the state.
    pub outcome: String,
    /// Whether the user was enrolled when the action was tracked.
    pub is_enrolled: bool,
    /// Wrong codes entered on the hosted pages for this action.
    #[serde(default)]
    pub failed_attempts: u32,
    /// `custom` of the track attributes, as sent (the hosted challenge shows its `clientName`).
    #[serde(default)]
    pub custom: Option<Map<String, Value>>,
    /// Emulator extension, not in the real service: when the person answered "This wasn't me"
    /// on the hosted challenge (the action then ended `CHALLENGE_FAILED`).
    #[serde(default)]
    pub reported_not_me_at: Option<DateTime<Utc>>,
    /// Emulator extension, not in the real service: when the person made new recovery codes in
    /// the hosted settings this action opened (`recoveryCodesRegenerated` in `getAction`'s
    /// `output`, which the identity server reads at its Manage-MFA callback to send a notice).
    #[serde(default)]
    pub recovery_codes_regenerated_at: Option<DateTime<Utc>>,
}

/// A recovery code, stored as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCode {
    /// Hex SHA-256 of the normalised code.
    pub hash: String,
    /// Whether it has been used.
    pub used: bool,
}

/// A security notice a relying party (the identity server) "sent" to a user's email through
/// `POST /dev/notices`: the dev outbox shows it next to the codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxNotice {
    /// Recipient (email address).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// What it is about (`new-browser`, ...), as the sender names it.
    pub kind: String,
    /// When it arrived.
    pub sent_at: DateTime<Utc>,
}

/// A one-time code "sent" by email or SMS: what the dev outbox shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    /// Recipient (email address or phone number).
    pub to: String,
    /// The code.
    pub code: String,
    /// The user it was sent for.
    pub user_id: String,
    /// The action code.
    pub action_code: String,
    /// The action's idempotency key.
    pub idempotency_key: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

/// An email code waiting to be entered on the hosted pages.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingEmailCode {
    /// Where it went.
    pub to: String,
    /// The code.
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was sent (a new one may be asked for after a wait).
    pub sent_at: DateTime<Utc>,
}

/// What the hosted pages keep for the person between two pages of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostedUi {
    /// A confirmation to show on the next page (one shot).
    pub flash_notice: Option<String>,
    /// Email or SMS codes sent in this session (bounded: resending is rate limited).
    pub codes_sent: u32,
    /// The address the last code could not go to (too many codes went there) and when one may
    /// go there again.
    pub held_code: Option<(String, DateTime<Utc>)>,
    /// What the person changed on the settings page, in their words, in order.
    pub changes: Vec<String>,
}

/// The step a hosted session is at.
#[derive(Clone, PartialEq, Eq)]
pub enum HostedStep {
    /// Choosing the first (or an additional) authenticator.
    ChooseEnrollment,
    /// Scanning a TOTP secret and confirming a code.
    EnrollTotp {
        /// The secret being enrolled (base32).
        secret: String,
    },
    /// Asking for the email address to enrol.
    EnrollEmailAddress,
    /// Entering the code sent to the email being enrolled.
    EnrollEmailCode,
    /// Entering a code for an enrolled method (`AUTHENTICATOR_APP`, `EMAIL_OTP`,
    /// `RECOVERY_CODE`).
    Challenge {
        /// The method being used.
        method: String,
    },
    /// Showing recovery codes once.
    RecoveryCodes {
        /// The plain codes (only until they are shown).
        codes: Vec<String>,
    },
    /// Managing authenticators after the challenge (`redirectToSettings`).
    Settings,
    /// Asking "remove this authenticator?" before removing it (from the settings).
    ConfirmRemove {
        /// The authenticator to remove.
        authenticator_id: String,
    },
    /// The flow ended (the browser went back to the relying party); kept until the session
    /// expires so that the browser's Back button sends the person on instead of to an error.
    Finished,
}

/// The server side of the browser's session on the hosted pages, bound to one action.
#[derive(Clone, PartialEq, Eq)]
pub struct HostedSession {
    /// Random id, also the cookie value.
    pub id: String,
    /// CSRF token of every form in this session.
    pub csrf: String,
    /// The action.
    pub action: ActionKey,
    /// The track token's scopes.
    pub scope: String,
    /// Where the flow is.
    pub step: HostedStep,
    /// Whether the user passed a challenge (or enrolled) in this session.
    pub verified: bool,
    /// The method that verified the user.
    pub verified_method: Option<String>,
    /// The authenticator that verified the user.
    pub verified_authenticator_id: Option<String>,
    /// The email code in flight.
    pub email_code: Option<PendingEmailCode>,
    /// The email being enrolled.
    pub pending_email: Option<String>,
    /// The session ends (the track token's expiry).
    pub expires_at: DateTime<Utc>,
    /// An error to show on the next page (one shot).
    pub flash_error: Option<String>,
    /// Notices, counters and the change list of the pages.
    pub ui: HostedUi,
}

/// An OTP challenge started through the Server API (`POST /challenge`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerChallenge {
    /// Its id.
    pub challenge_id: String,
    /// `EMAIL_OTP`, `SMS` or `WHATSAPP`.
    pub verification_method: String,
    /// Action code.
    pub action: String,
    /// Idempotency key.
    pub idempotency_key: String,
    /// The user, if named.
    pub user_id: Option<String>,
    /// Email recipient.
    pub email: Option<String>,
    /// Phone recipient.
    pub phone_number: Option<String>,
    /// SMS channel.
    pub sms_channel: Option<String>,
    /// The code.
    pub code: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Wrong attempts.
    pub attempts: u32,
    /// Whether `/verify` succeeded.
    pub verified: bool,
    /// Whether `/claim` was called.
    pub claimed: bool,
}

/// Which ceremony a [`PasskeyChallenge`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyCeremony {
    /// `navigator.credentials.create()`.
    Registration,
    /// `navigator.credentials.get()`.
    Authentication,
}

/// A Client API passkey challenge: made by `/client/challenge` (action only) or by the
/// options endpoints (with the WebAuthn challenge), answered once by verify or add.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyChallenge {
    /// Its id (`challengeId`).
    pub challenge_id: String,
    /// The ceremony.
    pub ceremony: PasskeyCeremony,
    /// The WebAuthn challenge bytes, once options were issued.
    pub challenge: Option<Vec<u8>>,
    /// The action the ceremony completes.
    pub action_code: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The user, when known before the ceremony (a Bearer token).
    pub user_id: Option<String>,
    /// The scope of the token it was started with.
    pub scope: String,
    /// Stops being answerable.
    pub expires_at: DateTime<Utc>,
}

/// A session issued by `POST /sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The access token's `jti`.
    pub jti: String,
    /// The user.
    pub user_id: String,
    /// The app client.
    pub client_id: String,
    /// Hash of the current refresh token.
    pub refresh_hash: String,
    /// The method that verified the user.
    pub verification_method: Option<String>,
    /// Revoked.
    pub revoked: bool,
}

// Secrets (TOTP keys, codes, session ids, CSRF tokens) never appear in `Debug` output, so a stray
// `{:?}` in a log line cannot leak them.

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("user_authenticator_id", &self.user_authenticator_id)
            .field("user_id", &self.user_id)
            .field("verification_method", &self.verification_method)
            .field(
                "totp_secret",
                &self.totp_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("last_totp_step", &self.last_totp_step)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PendingEmailCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEmailCode")
            .field("to", &self.to)
            .field("code", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl std::fmt::Debug for HostedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            HostedStep::ChooseEnrollment => "ChooseEnrollment",
            HostedStep::EnrollTotp { .. } => "EnrollTotp",
            HostedStep::EnrollEmailAddress => "EnrollEmailAddress",
            HostedStep::EnrollEmailCode => "EnrollEmailCode",
            HostedStep::Challenge { method } => return write!(f, "Challenge({method})"),
            HostedStep::RecoveryCodes { .. } => "RecoveryCodes",
            HostedStep::Settings => "Settings",
            HostedStep::ConfirmRemove { .. } => "ConfirmRemove",
            HostedStep::Finished => "Finished",
        };
        f.write_str(name)
    }
}

impl std::fmt::Debug for HostedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedSession")
            .field("action", &self.action)
            .field("step", &self.step)
            .field("verified", &self.verified)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("challenge_id", &self.challenge_id)
            .field("ceremony", &self.ceremony)
            .field("action_code", &self.action_code)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ServerChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerChallenge")
            .field("challenge_id", &self.challenge_id)
            .field("verification_method", &self.verification_method)
            .field("action", &self.action)
            .field("attempts", &self.attempts)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let now = Utc::now();
        let authenticator = Authenticator {
            user_authenticator_id: "a".into(),
            user_id: "u".into(),
            verification_method: "AUTHENTICATOR_APP".into(),
            created_at: now,
            verified_at: now,
            last_verified_at: None,
            email: None,
            phone_number: None,
            totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
            last_totp_step: None,
            is_default: true,
            passkey: None,
        };
        assert!(!format!("{authenticator:?}").contains("JBSWY3DPEHPK3PXP"));
        let session = HostedSession {
            id: "session-id-secret".into(),
            csrf: "csrf-secret".into(),
            action: ActionKey {
                user_id: "u".into(),
                action_code: "a".into(),
                idempotency_key: "k".into(),
            },
            scope: String::new(),
            step: HostedStep::EnrollTotp {
                secret: "TOTPSECRET".into(),
            },
            verified: false,
            verified_method: None,
            verified_authenticator_id: None,
            email_code: Some(PendingEmailCode {
                to: "a@b.c".into(),
                code: "123456".into(),
                expires_at: now,
                sent_at: now,
            }),
            pending_email: None,
            expires_at: now,
            flash_error: None,
            ui: HostedUi::default(),
        };
        let debug = format!("{session:?}");
        for secret in ["session-id-secret", "csrf-secret", "TOTPSECRET", "123456"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
