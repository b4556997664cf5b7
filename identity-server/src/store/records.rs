//! The records the stores keep. They live below the protocol (`oidc`) and the handlers, so
//! that both can use them without importing each other.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::domain::User;

/// How long a redeemed code is remembered after its expiry, to detect a late replay.
pub const CODE_REUSE_MEMORY_SECS: i64 = 600;

/// How long the revocation of a grant that does not exist yet is remembered: a code's replay can
/// revoke the grant of the first redemption before that request has created it.
pub const GRANT_TOMBSTONE_SECS: i64 = 600;

/// A validated authorization request, stored server-side while the user signs in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// A registered redirect URI (exact match).
    pub redirect_uri: String,
    /// Requested scopes (all allowed for the client; `openid` among them).
    pub scope: Vec<String>,
    /// Echoed back.
    pub state: Option<String>,
    /// Echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=login`: a new login is required.
    pub prompt_login: bool,
    /// `prompt=none`: no interaction allowed.
    pub prompt_none: bool,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// Pre-fills the username.
    pub login_hint: Option<String>,
    /// Requested authentication context classes, as sent (shown to the login page).
    pub acr_values: Option<String>,
    /// Preferred UI languages (carried, informational).
    pub ui_locales: Option<String>,
    /// The authentication context classes the client accepts (`crate::oidc::acr` values this
    /// provider knows, in the client's order of preference), from the `claims` parameter's
    /// `id_token.acr` or else `acr_values`. Empty: no requirement. Absent in requests stored
    /// before the field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_requested: Vec<String>,
    /// Whether the `claims` parameter marked `acr` essential: unmet, the request fails with
    /// `unmet_authentication_requirements` rather than going on at a lower level.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acr_essential: bool,
}

/// The random id of a login transaction: 256 bits from the operating system's CSPRNG, base64url.
///
/// Never serialised: a stored transaction is keyed by the id's digest and does not hold the id.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TransactionId(String);

impl TransactionId {
    /// Draws a fresh id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses an id taken from a cookie; anything that cannot be one of ours gives `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(raw.to_owned()))
    }

    /// The id as sent in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares two ids in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a bearer secret for the duration of the challenge.
        f.write_str("TransactionId([redacted])")
    }
}

/// What the second factor is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Completing a sign-in that continues the stored authorize request.
    Login {
        /// Id of the pending authorize request.
        authorize_request_id: String,
        /// Whether the user asked for a persistent session.
        remember: bool,
        /// The failed-login counters of this login (the submitted username and the client
        /// address): a failed second factor counts against them, and a complete sign-in resets
        /// the username's.
        lockout_keys: Vec<LockoutKey>,
        /// What the second factor proves (a challenge of an enrolled authenticator, or a first
        /// enrollment with or without an email proof before it): decides whether the sign-in
        /// may claim `mfa`. Absent in transactions written before the field existed, which then
        /// claim no more than the password (the conservative reading).
        #[serde(default)]
        proof: SecondFactorProof,
        /// Whether this login's challenge was counted against the account's second-factor
        /// budget (a challenge, not an enrollment): only then does its success forgive one.
        #[serde(default)]
        budget_counted: bool,
    },
    /// Proving the account's email with a one-time code before its first authenticator is
    /// enrolled (policy `account.first_enrollment = "email-proof"`). On success the login goes on
    /// to the hosted enrollment as a [`Purpose::Login`] with [`SecondFactorProof::EmailProved`].
    EmailProof {
        /// Id of the pending authorize request the sign-in continues.
        authorize_request_id: String,
        /// Whether the user asked for a persistent session.
        remember: bool,
        /// The failed-login counters of this login: every wrong code counts against them.
        lockout_keys: Vec<LockoutKey>,
        /// Authsignal's id of the email challenge (`POST /challenge`). Server-side only: the
        /// browser never sees it, so only this login can verify a code against it.
        challenge_id: String,
        /// Codes sent so far, the first one included.
        codes_sent: u32,
        /// When the last code was sent (unix seconds).
        last_sent: i64,
        /// Wrong codes entered so far (whatever Authsignal's own count per code is).
        wrong_codes: u32,
    },
    /// Opening the Authsignal settings page for a signed-in user.
    ManageMfa {
        /// The user's authenticators when the settings were opened (`None`: they could not be
        /// read), so that the page after the settings can say what changed. Display only.
        #[serde(default)]
        before: Option<Vec<KnownAuthenticator>>,
    },
    /// A passkey sign-in from the login page: the transaction's idempotency key is the one the
    /// page's script gives the Client API's `/client/challenge`, so that only an Authsignal token
    /// of this very transaction (in this browser) can complete it. Its `subject` is empty: the
    /// user is not known until the passkey names them.
    PasskeyLogin {
        /// Id of the pending authorize request the sign-in continues.
        authorize_request_id: String,
    },
    /// A step-up challenge of a signed-in session: before a passkey is added, or (with
    /// `authorize_request_id`) because an authorize request asked for more than the session
    /// has (`acr_values`, `max_age`).
    StepUp {
        /// Public id of the session it refreshes (the result applies to that session only).
        sid: String,
        /// The pending authorize request the step-up continues; `None` for the passkey page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authorize_request_id: Option<String>,
    },
    /// Adding a passkey: the `add-passkey` action tracked for a signed-in session.
    AddPasskey {
        /// Public id of the session that asked for it.
        sid: String,
    },
}

/// What the second factor of a login proves about who is signing in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorProof {
    /// A challenge of an authenticator enrolled before this login: a real second factor.
    Challenge,
    /// The user's first authenticator, enrolled after the account's email was proved with a
    /// one-time code in this login: the code is the second factor.
    EmailProved,
    /// The user's first authenticator, enrolled with the password alone (policy
    /// `account.first_enrollment = "password"`, or an account without email): whoever knows the
    /// password could have enrolled it, so the sign-in does not claim `mfa`.
    #[default]
    PasswordOnly,
}

/// An authenticator as the "Manage MFA" page saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownAuthenticator {
    /// Its id at Authsignal.
    pub id: String,
    /// Its verification method (wire name).
    pub method: String,
}

/// One pending second-factor step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginTransaction {
    /// Random id, also in the cookie. Not stored: the store keys the record by its digest and
    /// sets it back on `take`.
    #[serde(skip)]
    pub id: TransactionId,
    /// Subject of the user whose password was checked.
    pub subject: String,
    /// The Authsignal action code tracked for this transaction.
    pub action: String,
    /// Idempotency key returned by `track`: identifies this very action at Authsignal.
    pub idempotency_key: String,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Expiry time, unix seconds.
    pub expires: i64,
    /// What the transaction completes.
    pub purpose: Purpose,
}

impl LoginTransaction {
    /// Builds a transaction with a fresh id, created now and valid for `lifetime`.
    pub fn new(
        subject: String,
        action: String,
        idempotency_key: String,
        purpose: Purpose,
        lifetime: Duration,
    ) -> Self {
        let created = crate::oidc::now();
        Self {
            id: TransactionId::generate(),
            subject,
            action,
            idempotency_key,
            created,
            expires: created.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
            purpose,
        }
    }

    /// Whether the transaction is past its lifetime at `now` (unix seconds).
    pub fn is_expired_at(&self, now: i64) -> bool {
        now >= self.expires
    }
}

/// What a counter is about.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LockoutKey {
    /// A username as submitted (case-folded).
    User(String),
    /// A client address: an IPv4 address, or the /64 network of an IPv6 address.
    Ip(String),
}

impl LockoutKey {
    /// The key of a submitted username: trimmed and lowercased, so `Alice` and `alice ` share one
    /// counter.
    pub fn user(username: &str) -> Self {
        Self::User(username.trim().to_lowercase())
    }

    /// The key of a client address. An IPv6 address counts by its /64 network (the usual size of
    /// one customer's or host's allocation, so rotating addresses does not make new counters);
    /// an IPv4-mapped IPv6 address counts as the IPv4 address. It is the same rule as the
    /// provider's own throttles: [`crate::throttle::network_key`].
    pub fn ip(addr: IpAddr) -> Self {
        Self::Ip(crate::throttle::network_key(addr))
    }

    /// The key of a client whose address is not known (one shared counter).
    pub fn unknown_ip() -> Self {
        Self::Ip("unknown".to_owned())
    }

    /// The name under which a store keeps the counter: `u:` and the SHA-256 of the username (a
    /// username is personal data and shows up in key listings), or `ip:` and the network.
    pub fn storage_key(&self) -> String {
        match self {
            Self::User(name) => format!("u:{}", crate::oidc::sha256_b64(name)),
            Self::Ip(net) => format!("ip:{net}"),
        }
    }

    /// Whether this is a username's counter.
    pub fn is_user(&self) -> bool {
        matches!(self, Self::User(_))
    }
}

impl fmt::Debug for LockoutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(u) => write!(f, "user:{u:?}"),
            Self::Ip(ip) => write!(f, "ip:{ip:?}"),
        }
    }
}

/// A signed-in browser session of the identity server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// Public session id (the `sid` claim of ID tokens); 256 random bits, base64url. It is NOT
    /// the cookie: the store key is the SHA-256 of the cookie's separate secret handle.
    pub sid: String,
    /// The user.
    pub subject: String,
    /// When the user authenticated (unix seconds).
    pub auth_time: i64,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// Persistent cookie.
    pub remember: bool,
    /// Created (unix seconds): the absolute timeout counts from here.
    pub created: i64,
    /// Last use (unix seconds): the idle timeout counts from here.
    pub last_seen: i64,
    /// When the user last passed a second factor in this session *after* signing in (a step-up
    /// challenge, unix seconds). Absent in sessions written before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_at: Option<i64>,
    /// The clients a code was issued to in this session (registered client ids, each once):
    /// who gets a back-channel logout token when the session ends. Absent in sessions written
    /// before the field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Where the session was started from, for the user's list of sessions. Empty in sessions
    /// written before the field existed.
    #[serde(default, skip_serializing_if = "SessionDevice::is_empty")]
    pub device: SessionDevice,
}

/// Where a session was started from, as the "Your sessions" page shows it. Display only:
/// nothing is decided on it (both values come from the request and can be forged by the client).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionDevice {
    /// A short label from the `User-Agent` ("Chrome on Linux"; see [`crate::user_agent`]), at
    /// most [`crate::user_agent::MAX_LABEL_CHARS`] characters.
    #[serde(default)]
    pub browser: String,
    /// The client address as the throttles see it (through the trusted proxies only).
    #[serde(default)]
    pub address: String,
}

impl SessionDevice {
    /// Whether nothing was recorded (a session of an earlier version).
    pub fn is_empty(&self) -> bool {
        self.browser.is_empty() && self.address.is_empty()
    }
}

impl Session {
    /// When the user last passed a second factor in this session: the latest step-up, or the
    /// sign-in itself when it was multi-factor (`amr` holds `mfa`). `None` for a sign-in with a
    /// password alone (an `ALLOW` rule) and no step-up since.
    pub fn last_second_factor(&self) -> Option<i64> {
        let at_sign_in = self
            .amr
            .iter()
            .any(|m| m == "mfa")
            .then_some(self.auth_time);
        at_sign_in.max(self.step_up_at)
    }

    /// Whether the session is still live at `now` under both timeouts.
    pub fn is_live_at(&self, now: i64, idle_secs: i64, absolute_secs: i64) -> bool {
        now.saturating_sub(self.last_seen) < idle_secs
            && now.saturating_sub(self.created) < absolute_secs
    }
}

/// What an authorization code is bound to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorize request.
    pub redirect_uri: String,
    /// PKCE S256 challenge, if one was sent.
    pub code_challenge: Option<String>,
    /// The nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// The user.
    pub subject: String,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id.
    pub sid: String,
    /// The authentication context class the ID token asserts (`crate::oidc::acr`); absent in
    /// codes stored before the field existed (then it follows from `amr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// Expiry (unix seconds).
    pub expires_at: i64,
    /// The grant created when the code was redeemed.
    pub grant_id: Option<String>,
}

/// Result of redeeming a code.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeUse {
    /// First use: the record.
    First(CodeRecord),
    /// Second use: the record as stored (its `grant_id` names what must be revoked).
    Reused(CodeRecord),
    /// Unknown or long gone.
    Unknown,
}

/// A grant: what a user allowed a client, with its refresh-token chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// Random id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id at sign-in.
    pub sid: String,
    /// The authentication context class its ID tokens assert; absent in grants stored before
    /// the field existed (then it follows from `amr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Created (unix seconds).
    pub created: i64,
    /// Absolute end of the grant (unix seconds).
    pub expires_at: i64,
    /// SHA-256 of the current refresh token, if the grant has one.
    pub refresh_hash: Option<String>,
    /// SHA-256 of the refresh token rotated away last (accepted again within the reuse interval).
    #[serde(default)]
    pub previous_hash: Option<String>,
    /// When the last rotation happened (unix seconds; 0 before the first).
    #[serde(default)]
    pub rotated_at: i64,
    /// Revoked grants stay until they expire, so that reuse keeps being detected.
    pub revoked: bool,
}

/// Result of presenting a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// The current token (or the previous one within the reuse interval): the grant, now
    /// carrying the new digest.
    Rotated(Grant),
    /// A token already rotated away: the grant has been revoked.
    Reused(Grant),
    /// Unknown, expired or revoked.
    Invalid,
}

/// What the provider remembers of an issued access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The client.
    pub client_id: String,
    /// The user (or the client id for client credentials).
    pub subject: String,
    /// Scopes.
    pub scope: Vec<String>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// The grant it belongs to (code and refresh flows).
    pub grant_id: Option<String>,
    /// Revoked by RFC 7009 revocation.
    pub revoked: bool,
}

/// An account with its Argon2id password hash (PHC string).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredUser {
    /// The account.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

impl fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredUser")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}
