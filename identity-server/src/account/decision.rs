//! The two protocol decisions of the second factor, as plain functions: what to do with the
//! answer of `track` (DESIGN.md, login step 4) and whether the answer of `validate` proves that
//! this very login passed its challenge (step 5).
//!
//! Both fail closed: anything unexpected (an SDK error, an unknown state, a missing field, a
//! redirect URL that is not HTTPS) refuses the sign-in. For `validate` they also tell a
//! definitive refusal of the token (which counts as a failed login) from Authsignal not giving a
//! definitive answer (429, 5xx, timeout, connection error, an undecodable or oversized body),
//! which counts against no one: [`Rejection::is_unavailable`].

use std::fmt;

use authsignal_sdk::{
    Error as SdkError, TrackResponse, UserActionState, ValidateChallengeResponse,
    VerificationMethod,
};
use subtle::ConstantTimeEq as _;

/// What the login does after `track`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The user is enrolled and must pass a challenge at `url`.
    Challenge {
        /// The hosted challenge page.
        url: String,
        /// Identifies the tracked action; the callback must see the same key.
        idempotency_key: String,
    },
    /// The user has no authenticator yet and must enroll one at `url` (which also proves it).
    Enroll {
        /// The hosted enrollment page.
        url: String,
        /// Identifies the tracked action; the callback must see the same key.
        idempotency_key: String,
    },
    /// The rules let the user in with the password alone.
    Allow,
    /// The rules deny the sign-in.
    Block,
    /// The sign-in waits for a manual review: refused for now.
    Review,
    /// Authsignal could not give a usable answer: refused (fail closed).
    Fail(FailReason),
}

/// Why the decision failed closed. `Display` is for the log (no secret, no token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The call did not complete: connection failure (with its cause, e.g. "connection
    /// refused", and the error chain) or timeout.
    Unavailable(String),
    /// Authsignal answered with an error status.
    Api {
        /// The HTTP status.
        status: u16,
        /// The API error code, if any.
        code: Option<String>,
        /// Authsignal's request id, if any.
        request_id: Option<String>,
    },
    /// Any other SDK error (undecodable answer, bad configuration).
    Sdk(String),
    /// A state that `track` is not expected to return.
    UnexpectedState(String),
    /// A challenge or enrollment without a usable HTTPS URL.
    BadRedirectUrl,
    /// A challenge or enrollment without an idempotency key to bind the callback to.
    MissingIdempotencyKey,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "authsignal unavailable: {why}"),
            Self::Api {
                status,
                code,
                request_id,
            } => {
                write!(f, "authsignal answered status {status}")?;
                if let Some(code) = code {
                    write!(f, " ({code:?})")?;
                }
                if let Some(id) = request_id {
                    write!(f, ", authsignal request id {id:?}")?;
                }
                Ok(())
            }
            Self::Sdk(why) => write!(f, "authsignal call failed: {why}"),
            Self::UnexpectedState(state) => write!(f, "unexpected track state {state:?}"),
            Self::BadRedirectUrl => f.write_str("track answered without a usable https url"),
            Self::MissingIdempotencyKey => f.write_str("track answered without an idempotency key"),
        }
    }
}

impl From<&SdkError> for FailReason {
    fn from(error: &SdkError) -> Self {
        match error {
            SdkError::Timeout => Self::Unavailable("timed out".into()),
            // The whole chain: the SDK's kind ("connection refused", "tls handshake failed")
            // and the operating system's or rustls' own words, so the log line says which.
            SdkError::Transport { .. } => Self::Unavailable(error_chain(error)),
            SdkError::Api {
                status, request_id, ..
            } => Self::Api {
                status: *status,
                code: error.error_code().map(str::to_owned),
                request_id: request_id.clone(),
            },
            other => Self::Sdk(other.to_string()),
        }
    }
}

impl FailReason {
    /// Whether Authsignal refused the request itself: a 4xx about the request (e.g. 400 for a
    /// malformed token). Everything else says nothing about the user's second factor: 429 and
    /// 408 (Authsignal's own limits), 401 and 403 (this server's secret), 3xx and 5xx, a
    /// timeout, a connection error, an undecodable or oversized answer.
    pub fn is_definitive(&self) -> bool {
        matches!(self, Self::Api { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 429))
    }
}

/// `error: cause: cause …`, for a log line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Decides what a login does with the answer of `track` (DESIGN.md step 4).
///
/// Order matters: `BLOCK` and `REVIEW_REQUIRED` win over enrollment (a blocked user is not offered
/// an enrollment page), then a user without an authenticator must enroll whatever the rules say
/// (there is no password-only first login), then `CHALLENGE_REQUIRED` challenges and `ALLOW`
/// allows. Any other state, and any error, fails closed.
pub fn decide(answer: Result<&TrackResponse, &SdkError>) -> Decision {
    let response = match answer {
        Ok(response) => response,
        Err(error) => return Decision::Fail(error.into()),
    };
    match &response.state {
        UserActionState::Block => return Decision::Block,
        UserActionState::ReviewRequired => return Decision::Review,
        UserActionState::Allow | UserActionState::ChallengeRequired => {}
        other => return Decision::Fail(FailReason::UnexpectedState(other.as_str().to_owned())),
    }
    let needs_redirect =
        !response.is_enrolled || response.state == UserActionState::ChallengeRequired;
    if !needs_redirect {
        return Decision::Allow;
    }
    if !is_usable_redirect(&response.url) {
        return Decision::Fail(FailReason::BadRedirectUrl);
    }
    if response.idempotency_key.trim().is_empty() {
        return Decision::Fail(FailReason::MissingIdempotencyKey);
    }
    let url = response.url.clone();
    let idempotency_key = response.idempotency_key.clone();
    if response.is_enrolled {
        Decision::Challenge {
            url,
            idempotency_key,
        }
    } else {
        Decision::Enroll {
            url,
            idempotency_key,
        }
    }
}

/// Decides what "Manage MFA" does with the answer of `track` (with `redirectToSettings`).
///
/// Like [`decide`], except that `ALLOW` still goes to `url`: the hosted page is where the
/// authenticators are managed, and the callback accepts only a succeeded challenge anyway.
pub fn decide_manage_mfa(answer: Result<&TrackResponse, &SdkError>) -> Decision {
    match (decide(answer), answer) {
        (Decision::Allow, Ok(response)) => {
            if !is_usable_redirect(&response.url) {
                Decision::Fail(FailReason::BadRedirectUrl)
            } else if response.idempotency_key.trim().is_empty() {
                Decision::Fail(FailReason::MissingIdempotencyKey)
            } else {
                Decision::Challenge {
                    url: response.url.clone(),
                    idempotency_key: response.idempotency_key.clone(),
                }
            }
        }
        (decision, _) => decision,
    }
}

/// Decides what a login or a step-up does with the answer of `track` when the client requires
/// a second factor (an `acr` of `mfa` or above, [`crate::oidc::acr`]): like [`decide`], except
/// that `ALLOW` still goes to the hosted challenge at `url`, as [`decide_manage_mfa`] does. The
/// rules may allow a password alone, but that does not reach the level the client asked for; the
/// callback accepts only a succeeded challenge of this very action anyway.
pub fn decide_challenge_required(answer: Result<&TrackResponse, &SdkError>) -> Decision {
    decide_manage_mfa(answer)
}

/// What adding a passkey may go on with after `track` of the add-passkey action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddPasskey {
    /// The track token the browser's script gives the Client API (Bearer).
    pub token: String,
    /// Identifies the tracked action; the result token must carry the same key.
    pub idempotency_key: String,
}

/// Decides whether a passkey may be added after `track` of the add-passkey action (scope
/// `add:authenticators`): only when the action is open for it (`CHALLENGE_REQUIRED` or `ALLOW`:
/// the freshness of the session's second factor was checked before the call) with a token and
/// an idempotency key. `BLOCK` and `REVIEW_REQUIRED` refuse; anything else fails closed.
pub fn decide_add_passkey(
    answer: Result<&TrackResponse, &SdkError>,
) -> Result<AddPasskey, Decision> {
    let response = answer.map_err(|e| Decision::Fail(e.into()))?;
    match &response.state {
        UserActionState::Block => return Err(Decision::Block),
        UserActionState::ReviewRequired => return Err(Decision::Review),
        UserActionState::Allow | UserActionState::ChallengeRequired => {}
        other => {
            return Err(Decision::Fail(FailReason::UnexpectedState(
                other.as_str().to_owned(),
            )));
        }
    }
    if response.idempotency_key.trim().is_empty() {
        return Err(Decision::Fail(FailReason::MissingIdempotencyKey));
    }
    if response.token.trim().is_empty() {
        return Err(Decision::Fail(FailReason::Sdk(
            "track answered without a token".into(),
        )));
    }
    Ok(AddPasskey {
        token: response.token.clone(),
        idempotency_key: response.idempotency_key.clone(),
    })
}

/// The browser is only ever sent to an absolute HTTPS URL with a host.
fn is_usable_redirect(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| u.scheme() == "https" && u.host().is_some())
}

/// What the callback expects the validated challenge to be about (from the login transaction).
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// Subject of the user whose password was checked.
    pub user_id: &'a str,
    /// The action code that was tracked.
    pub action: &'a str,
    /// The idempotency key `track` returned.
    pub idempotency_key: &'a str,
}

/// Why a validated challenge does not prove this login. `Display` is for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The challenge failed at Authsignal (`CHALLENGE_FAILED`: too many wrong codes at the
    /// hosted page); a rejection like the others, told apart so that the person learns why.
    ChallengeFailed,
    /// `isValid` was false.
    NotValid,
    /// The state was not `CHALLENGE_SUCCEEDED`.
    WrongState(Option<String>),
    /// The token belongs to another user (or names none).
    WrongUser,
    /// The token belongs to another action (or names none).
    WrongAction,
    /// The token belongs to another instance of the action (or names none).
    WrongIdempotencyKey,
    /// The challenge was passed with another method than the one required (or names none).
    WrongMethod(Option<String>),
    /// The token names a user this server does not know.
    UnknownUser,
    /// The validate call failed.
    Failed(FailReason),
    /// This server's own store failed while checking the answer.
    Store(String),
}

impl Rejection {
    /// Whether the rejection is Authsignal not answering definitively (the call failed with a
    /// non-definitive [`FailReason`]) rather than an answer about the token. Such a callback
    /// completes no login and counts against neither the user nor the address: the user did
    /// nothing wrong, and nothing was learnt about the second factor.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Failed(reason) => !reason.is_definitive(),
            Self::Store(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChallengeFailed => f.write_str("challenge failed (CHALLENGE_FAILED)"),
            Self::NotValid => f.write_str("challenge token not valid"),
            Self::WrongState(Some(s)) => {
                write!(f, "challenge state {s:?} is not CHALLENGE_SUCCEEDED")
            }
            Self::WrongState(None) => f.write_str("challenge state missing"),
            Self::WrongUser => f.write_str("challenge belongs to another user"),
            Self::WrongAction => f.write_str("challenge belongs to another action"),
            Self::WrongIdempotencyKey => {
                f.write_str("challenge belongs to another instance of the action")
            }
            Self::WrongMethod(Some(m)) => {
                write!(f, "challenge passed with {m:?}, not with a passkey")
            }
            Self::WrongMethod(None) => f.write_str("challenge names no verification method"),
            Self::UnknownUser => f.write_str("challenge names a user this server does not know"),
            Self::Failed(reason) => write!(f, "validate failed: {reason}"),
            Self::Store(why) => write!(f, "store failed while checking the challenge: {why}"),
        }
    }
}

/// Checks the answer of `validate` against the login transaction (DESIGN.md step 5): **all** of
/// `isValid`, state `CHALLENGE_SUCCEEDED`, the same user, the same action and the same
/// idempotency key. Returns the verification method on success.
pub fn check_validation(
    answer: Result<&ValidateChallengeResponse, &SdkError>,
    expected: Expected<'_>,
) -> Result<Option<VerificationMethod>, Rejection> {
    let response = answer.map_err(|e| Rejection::Failed(e.into()))?;
    if response.state == Some(UserActionState::ChallengeFailed) {
        return Err(Rejection::ChallengeFailed);
    }
    check_succeeded(response)?;
    if !response
        .user_id
        .as_deref()
        .is_some_and(|u| same(u, expected.user_id))
    {
        return Err(Rejection::WrongUser);
    }
    check_instance(response, expected.action, expected.idempotency_key)?;
    Ok(response.verification_method.clone())
}

/// `isValid` and state `CHALLENGE_SUCCEEDED`.
fn check_succeeded(response: &ValidateChallengeResponse) -> Result<(), Rejection> {
    if !response.is_valid {
        return Err(Rejection::NotValid);
    }
    if response.state != Some(UserActionState::ChallengeSucceeded) {
        return Err(Rejection::WrongState(
            response.state.as_ref().map(|s| s.as_str().to_owned()),
        ));
    }
    Ok(())
}

/// The action code (every field present) and the idempotency key of this transaction.
fn check_instance(
    response: &ValidateChallengeResponse,
    action: &str,
    idempotency_key: &str,
) -> Result<(), Rejection> {
    // The service sends the code as `action` and `actionCode`; every one present must match.
    let codes = [response.action.as_deref(), response.action_code.as_deref()];
    let present: Vec<&str> = codes.into_iter().flatten().collect();
    if present.is_empty() || !present.iter().all(|c| same(c, action)) {
        return Err(Rejection::WrongAction);
    }
    if !response
        .idempotency_key
        .as_deref()
        .is_some_and(|k| same(k, idempotency_key))
    {
        return Err(Rejection::WrongIdempotencyKey);
    }
    Ok(())
}

/// A login challenge that passed, presented at the callback of a browser without that login's
/// transaction ([`passed_elsewhere`]): the action to void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedElsewhere {
    /// The user the token names.
    pub user_id: String,
    /// The action instance.
    pub idempotency_key: String,
    /// When the action's state last changed (unix seconds), when the answer said so readably.
    pub passed_at: Option<i64>,
}

/// The action of a `validate` answer that is a passed challenge (`isValid`,
/// `CHALLENGE_SUCCEEDED`) of the login action `login_action` (every code field present
/// matches), naming a user and an instance; `None` for anything else (nothing to void).
pub fn passed_elsewhere(
    response: &ValidateChallengeResponse,
    login_action: &str,
) -> Option<PassedElsewhere> {
    check_succeeded(response).ok()?;
    let user_id = response.user_id.as_deref().filter(|u| !u.is_empty())?;
    let idempotency_key = response
        .idempotency_key
        .as_deref()
        .filter(|k| !k.is_empty())?;
    check_instance(response, login_action, idempotency_key).ok()?;
    let passed_at = response
        .state_updated_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    Some(PassedElsewhere {
        user_id: user_id.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        passed_at,
    })
}

/// What a passkey ceremony's token must be about (from its transaction).
#[derive(Clone, Copy, Debug)]
pub struct ExpectedPasskey<'a> {
    /// The user, when the transaction knows them (adding a passkey); `None` for a sign-in,
    /// where the token names the user.
    pub user_id: Option<&'a str>,
    /// The action code of the ceremony.
    pub action: &'a str,
    /// The transaction's idempotency key.
    pub idempotency_key: &'a str,
}

/// Checks the answer of `validate` for a passkey ceremony: **all** of `isValid`, state
/// `CHALLENGE_SUCCEEDED`, the same action, the same idempotency key, verification method
/// `PASSKEY`, and a user id (the expected one, when there is one). Returns the user id.
///
/// For a sign-in this is where the user comes from the token: safe only because the
/// idempotency key belongs to a single-use transaction bound to this browser by its cookie.
pub fn check_passkey_validation(
    answer: Result<&ValidateChallengeResponse, &SdkError>,
    expected: ExpectedPasskey<'_>,
) -> Result<String, Rejection> {
    let response = answer.map_err(|e| Rejection::Failed(e.into()))?;
    check_succeeded(response)?;
    check_instance(response, expected.action, expected.idempotency_key)?;
    match &response.verification_method {
        Some(VerificationMethod::Passkey) => {}
        other => {
            return Err(Rejection::WrongMethod(
                other.as_ref().map(|m| m.as_str().to_owned()),
            ));
        }
    }
    let user_id = response
        .user_id
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or(Rejection::WrongUser)?;
    if let Some(expected_user) = expected.user_id
        && !same(user_id, expected_user)
    {
        return Err(Rejection::WrongUser);
    }
    Ok(user_id.to_owned())
}

/// The `amr` of a sign-in with a passkey alone: `pop` (proof of possession of a key, OpenID
/// Connect EAP ACR Values), `swk` (RFC 8176: a software-secured key — a passkey may be synced
/// between devices, and nothing attests that it is hardware-bound, so `hwk` would claim more
/// than is known) and `mfa` (the Client API requires user verification, so the key's holder
/// also passed the device's PIN or biometric: two factors, RFC 8176 §2).
pub const PASSKEY_AMR: [&str; 3] = ["pop", "swk", "mfa"];

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The `amr` values (RFC 8176) of a sign-in with password and the given second factor.
pub fn amr_for(method: Option<&VerificationMethod>) -> Vec<String> {
    let mut amr = vec!["pwd".to_owned(), "mfa".to_owned()];
    let extra = match method {
        Some(
            VerificationMethod::AuthenticatorApp
            | VerificationMethod::EmailOtp
            | VerificationMethod::RecoveryCode
            | VerificationMethod::Whatsapp,
        ) => Some("otp"),
        Some(VerificationMethod::Sms) => Some("sms"),
        // A security key is hardware-bound; a passkey may be synced, i.e. software-secured.
        Some(VerificationMethod::SecurityKey) => Some("hwk"),
        Some(VerificationMethod::Passkey) => Some("swk"),
        Some(VerificationMethod::Iproov) => Some("face"),
        _ => None,
    };
    amr.extend(extra.map(str::to_owned));
    amr
}

#[cfg(test)]
mod tests {
    use super::*;
    use authsignal_sdk::ApiErrorBody;

    fn track(state: UserActionState, is_enrolled: bool) -> TrackResponse {
        TrackResponse {
            idempotency_key: "idem-1".into(),
            state,
            url: "https://localhost:5003/challenge?token=t".into(),
            token: "t".into(),
            is_enrolled,
            enrolled_verification_methods: None,
            allowed_verification_methods: None,
            default_verification_method: None,
            rule_ids: None,
        }
    }

    fn challenge() -> Decision {
        Decision::Challenge {
            url: "https://localhost:5003/challenge?token=t".into(),
            idempotency_key: "idem-1".into(),
        }
    }

    fn enroll() -> Decision {
        Decision::Enroll {
            url: "https://localhost:5003/challenge?token=t".into(),
            idempotency_key: "idem-1".into(),
        }
    }

    #[test]
    fn an_enrolled_user_with_challenge_required_is_challenged() {
        let t = track(UserActionState::ChallengeRequired, true);
        assert_eq!(decide(Ok(&t)), challenge());
    }

    #[test]
    fn a_user_without_authenticator_and_challenge_required_enrolls() {
        let t = track(UserActionState::ChallengeRequired, false);
        assert_eq!(decide(Ok(&t)), enroll());
    }

    #[test]
    fn an_enrolled_user_with_allow_is_allowed() {
        let t = track(UserActionState::Allow, true);
        assert_eq!(decide(Ok(&t)), Decision::Allow);
    }

    #[test]
    fn a_user_without_authenticator_enrolls_even_when_the_rules_allow() {
        let t = track(UserActionState::Allow, false);
        assert_eq!(decide(Ok(&t)), enroll());
    }

    #[test]
    fn block_is_refused_whether_enrolled_or_not() {
        for enrolled in [true, false] {
            let t = track(UserActionState::Block, enrolled);
            assert_eq!(decide(Ok(&t)), Decision::Block);
        }
    }

    #[test]
    fn review_required_is_refused_whether_enrolled_or_not() {
        for enrolled in [true, false] {
            let t = track(UserActionState::ReviewRequired, enrolled);
            assert_eq!(decide(Ok(&t)), Decision::Review);
        }
    }

    #[test]
    fn states_track_never_returns_fail_closed() {
        for state in [
            UserActionState::ChallengeSucceeded,
            UserActionState::ChallengeFailed,
            UserActionState::ReviewSucceeded,
            UserActionState::ReviewFailed,
        ] {
            for enrolled in [true, false] {
                let t = track(state.clone(), enrolled);
                assert_eq!(
                    decide(Ok(&t)),
                    Decision::Fail(FailReason::UnexpectedState(state.as_str().to_owned())),
                    "{state} enrolled={enrolled}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_state_fails_closed() {
        let t = track(UserActionState::from_wire("SOMETHING_NEW"), true);
        assert_eq!(
            decide(Ok(&t)),
            Decision::Fail(FailReason::UnexpectedState("SOMETHING_NEW".into()))
        );
    }

    #[test]
    fn every_known_state_has_a_decision() {
        // Guards the match above when the SDK learns a new state.
        for state in UserActionState::KNOWN {
            let _ = decide(Ok(&track(state.clone(), true)));
        }
        assert_eq!(UserActionState::KNOWN.len(), 8);
    }

    #[test]
    fn a_challenge_without_url_fails_closed() {
        let mut t = track(UserActionState::ChallengeRequired, true);
        t.url = String::new();
        assert_eq!(decide(Ok(&t)), Decision::Fail(FailReason::BadRedirectUrl));
    }

    #[test]
    fn a_challenge_url_that_is_not_https_fails_closed() {
        for url in [
            "http://localhost:5003/challenge",
            "javascript:alert(1)",
            "/relative/challenge",
            "https://",
            "ftp://localhost/challenge",
        ] {
            let mut t = track(UserActionState::ChallengeRequired, false);
            t.url = url.into();
            assert_eq!(
                decide(Ok(&t)),
                Decision::Fail(FailReason::BadRedirectUrl),
                "{url}"
            );
        }
    }

    #[test]
    fn a_challenge_without_idempotency_key_fails_closed() {
        let mut t = track(UserActionState::ChallengeRequired, true);
        t.idempotency_key = " ".into();
        assert_eq!(
            decide(Ok(&t)),
            Decision::Fail(FailReason::MissingIdempotencyKey)
        );
    }

    #[test]
    fn an_allow_needs_no_url() {
        let mut t = track(UserActionState::Allow, true);
        t.url = String::new();
        assert_eq!(decide(Ok(&t)), Decision::Allow);
    }

    #[test]
    fn a_timeout_fails_closed_as_unavailable() {
        assert!(matches!(
            decide(Err(&SdkError::Timeout)),
            Decision::Fail(FailReason::Unavailable(_))
        ));
    }

    #[test]
    fn an_api_error_fails_closed_keeping_status_code_and_request_id() {
        let error = SdkError::Api {
            status: 401,
            body: ApiErrorBody::new("unauthorized", "bad key"),
            request_id: Some("req-9".into()),
        };
        let decision = decide(Err(&error));
        assert_eq!(
            decision,
            Decision::Fail(FailReason::Api {
                status: 401,
                code: Some("unauthorized".into()),
                request_id: Some("req-9".into()),
            })
        );
        let Decision::Fail(reason) = decision else {
            unreachable!()
        };
        assert_eq!(
            reason.to_string(),
            "authsignal answered status 401 (\"unauthorized\"), authsignal request id \"req-9\""
        );
    }

    #[test]
    fn other_sdk_errors_fail_closed() {
        let error = SdkError::Configuration("bad base url".into());
        assert!(matches!(
            decide(Err(&error)),
            Decision::Fail(FailReason::Sdk(_))
        ));
        let decode = SdkError::Decode {
            status: 200,
            raw_body: "<html>".into(),
            source: serde_json::from_str::<u8>("x").unwrap_err(),
        };
        assert!(matches!(
            decide(Err(&decode)),
            Decision::Fail(FailReason::Sdk(_))
        ));
    }

    #[test]
    fn manage_mfa_goes_to_the_hosted_page_even_when_allowed() {
        let t = track(UserActionState::Allow, true);
        assert_eq!(decide_manage_mfa(Ok(&t)), challenge());
        let mut no_url = t.clone();
        no_url.url = String::new();
        assert_eq!(
            decide_manage_mfa(Ok(&no_url)),
            Decision::Fail(FailReason::BadRedirectUrl)
        );
    }

    #[test]
    fn a_challenge_required_by_the_client_goes_to_the_hosted_page_even_when_allowed() {
        let t = track(UserActionState::Allow, true);
        assert_eq!(decide(Ok(&t)), Decision::Allow);
        assert_eq!(decide_challenge_required(Ok(&t)), challenge());
        let mut no_url = track(UserActionState::Allow, true);
        no_url.url = String::new();
        assert_eq!(
            decide_challenge_required(Ok(&no_url)),
            Decision::Fail(FailReason::BadRedirectUrl)
        );
        for (state, expected) in [
            (UserActionState::Block, Decision::Block),
            (UserActionState::ReviewRequired, Decision::Review),
            (UserActionState::ChallengeRequired, challenge()),
        ] {
            assert_eq!(decide_challenge_required(Ok(&track(state, true))), expected);
        }
        assert_eq!(
            decide_challenge_required(Ok(&track(UserActionState::Allow, false))),
            enroll()
        );
    }

    #[test]
    fn manage_mfa_refuses_block_review_and_errors_like_login() {
        let blocked = track(UserActionState::Block, true);
        assert_eq!(decide_manage_mfa(Ok(&blocked)), Decision::Block);
        let review = track(UserActionState::ReviewRequired, true);
        assert_eq!(decide_manage_mfa(Ok(&review)), Decision::Review);
        assert!(matches!(
            decide_manage_mfa(Err(&SdkError::Timeout)),
            Decision::Fail(_)
        ));
        let challenged = track(UserActionState::ChallengeRequired, true);
        assert_eq!(decide_manage_mfa(Ok(&challenged)), challenge());
    }

    fn validated() -> ValidateChallengeResponse {
        ValidateChallengeResponse {
            is_valid: true,
            state: Some(UserActionState::ChallengeSucceeded),
            user_id: Some("sub-1".into()),
            action: Some("identity-server-login".into()),
            action_code: Some("identity-server-login".into()),
            idempotency_key: Some("idem-1".into()),
            verification_method: Some(VerificationMethod::AuthenticatorApp),
            ..Default::default()
        }
    }

    #[test]
    fn a_passed_login_challenge_is_recognised_for_voiding() {
        let mut answer = validated();
        answer.state_updated_at = Some("2026-12-01T14:05:09.123Z".into());
        assert_eq!(
            passed_elsewhere(&answer, "identity-server-login"),
            Some(PassedElsewhere {
                user_id: "sub-1".into(),
                idempotency_key: "idem-1".into(),
                passed_at: Some(1_796_133_909),
            })
        );
        answer.state_updated_at = Some("yesterday".into());
        assert_eq!(
            passed_elsewhere(&answer, "identity-server-login").and_then(|p| p.passed_at),
            None
        );
    }

    #[test]
    fn nothing_but_a_passed_challenge_of_the_login_action_is_voided() {
        assert_eq!(passed_elsewhere(&validated(), "transfer-money"), None);
        let mut other_code = validated();
        other_code.action_code = Some("transfer-money".into());
        assert_eq!(passed_elsewhere(&other_code, "identity-server-login"), None);
        let mut failed = validated();
        failed.is_valid = false;
        failed.state = Some(UserActionState::ChallengeFailed);
        assert_eq!(passed_elsewhere(&failed, "identity-server-login"), None);
        let mut required = validated();
        required.state = Some(UserActionState::ChallengeRequired);
        assert_eq!(passed_elsewhere(&required, "identity-server-login"), None);
        let mut no_user = validated();
        no_user.user_id = Some(String::new());
        assert_eq!(passed_elsewhere(&no_user, "identity-server-login"), None);
        let mut no_key = validated();
        no_key.idempotency_key = None;
        assert_eq!(passed_elsewhere(&no_key, "identity-server-login"), None);
    }

    const EXPECTED: Expected<'static> = Expected {
        user_id: "sub-1",
        action: "identity-server-login",
        idempotency_key: "idem-1",
    };

    #[test]
    fn a_successful_challenge_of_this_login_is_accepted() {
        assert_eq!(
            check_validation(Ok(&validated()), EXPECTED),
            Ok(Some(VerificationMethod::AuthenticatorApp))
        );
    }

    #[test]
    fn only_one_of_action_and_action_code_is_enough() {
        let mut v = validated();
        v.action = None;
        assert!(check_validation(Ok(&v), EXPECTED).is_ok());
        let mut v = validated();
        v.action_code = None;
        assert!(check_validation(Ok(&v), EXPECTED).is_ok());
    }

    #[test]
    fn a_failed_challenge_is_told_apart_whether_or_not_it_is_marked_valid() {
        for is_valid in [false, true] {
            let mut v = validated();
            v.is_valid = is_valid;
            v.state = Some(UserActionState::ChallengeFailed);
            assert_eq!(
                check_validation(Ok(&v), EXPECTED),
                Err(Rejection::ChallengeFailed)
            );
        }
    }

    #[test]
    fn an_invalid_token_is_rejected() {
        let mut v = validated();
        v.is_valid = false;
        assert_eq!(check_validation(Ok(&v), EXPECTED), Err(Rejection::NotValid));
    }

    #[test]
    fn every_state_but_challenge_succeeded_is_rejected() {
        for state in UserActionState::KNOWN
            .iter()
            .filter(|s| **s != UserActionState::ChallengeSucceeded)
        {
            let mut v = validated();
            v.state = Some(state.clone());
            let expected = if *state == UserActionState::ChallengeFailed {
                Rejection::ChallengeFailed
            } else {
                Rejection::WrongState(Some(state.as_str().to_owned()))
            };
            assert_eq!(check_validation(Ok(&v), EXPECTED), Err(expected));
        }
        let mut v = validated();
        v.state = None;
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongState(None))
        );
    }

    #[test]
    fn a_token_of_another_user_is_rejected() {
        let mut v = validated();
        v.user_id = Some("sub-2".into());
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongUser)
        );
        v.user_id = None;
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongUser)
        );
    }

    #[test]
    fn a_token_of_another_action_is_rejected() {
        let mut v = validated();
        v.action = Some("transfer-money".into());
        v.action_code = Some("transfer-money".into());
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongAction)
        );
        v.action = None;
        v.action_code = None;
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongAction)
        );
    }

    #[test]
    fn disagreeing_action_fields_are_rejected() {
        let mut v = validated();
        v.action_code = Some("transfer-money".into());
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongAction)
        );
    }

    #[test]
    fn a_token_of_another_login_of_the_same_user_is_rejected() {
        let mut v = validated();
        v.idempotency_key = Some("idem-2".into());
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongIdempotencyKey)
        );
        v.idempotency_key = None;
        assert_eq!(
            check_validation(Ok(&v), EXPECTED),
            Err(Rejection::WrongIdempotencyKey)
        );
    }

    #[test]
    fn a_failed_validate_call_is_rejected() {
        assert!(matches!(
            check_validation(Err(&SdkError::Timeout), EXPECTED),
            Err(Rejection::Failed(FailReason::Unavailable(_)))
        ));
    }

    #[tokio::test]
    async fn a_connection_failure_is_logged_with_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = authsignal_sdk::Client::builder("s")
            .base_url(format!("http://127.0.0.1:{port}/v1"))
            .retry_policy(authsignal_sdk::RetryPolicy::none())
            .build()
            .unwrap();
        let error = client.get_user("u").await.unwrap_err();
        let reason = FailReason::from(&error);
        let logged = reason.to_string();
        assert!(
            logged.starts_with(
                "authsignal unavailable: authsignal transport error: connection refused: "
            ),
            "{logged}"
        );
        assert!(
            logged.contains("os error"),
            "the operating system's words: {logged}"
        );
        assert!(!reason.is_definitive());
    }

    fn api_error(status: u16) -> SdkError {
        SdkError::Api {
            status,
            body: ApiErrorBody::default(),
            request_id: None,
        }
    }

    #[test]
    fn only_a_4xx_about_the_request_is_a_definitive_refusal_of_the_token() {
        for status in [400, 404, 409, 422] {
            let rejection = check_validation(Err(&api_error(status)), EXPECTED).unwrap_err();
            assert!(!rejection.is_unavailable(), "status {status}");
        }
        for status in [307, 401, 403, 408, 429, 500, 502, 503, 504] {
            let rejection = check_validation(Err(&api_error(status)), EXPECTED).unwrap_err();
            assert!(rejection.is_unavailable(), "status {status}");
        }
    }

    #[test]
    fn timeouts_undecodable_and_oversized_answers_are_unavailable() {
        let decode = SdkError::Decode {
            status: 200,
            raw_body: "<html>".into(),
            source: serde_json::from_str::<u8>("x").unwrap_err(),
        };
        let too_large = SdkError::ResponseTooLarge {
            status: 200,
            limit: 1024,
        };
        for error in [SdkError::Timeout, decode, too_large] {
            let rejection = check_validation(Err(&error), EXPECTED).unwrap_err();
            assert!(rejection.is_unavailable(), "{error:?}");
        }
    }

    #[test]
    fn answers_about_the_token_are_never_unavailable() {
        let mut not_valid = validated();
        not_valid.is_valid = false;
        let mut other_user = validated();
        other_user.user_id = Some("sub-2".into());
        for answer in [not_valid, other_user] {
            let rejection = check_validation(Ok(&answer), EXPECTED).unwrap_err();
            assert!(!rejection.is_unavailable(), "{rejection}");
        }
    }

    #[test]
    fn adding_a_passkey_goes_on_with_the_token_when_the_action_is_open() {
        for state in [UserActionState::ChallengeRequired, UserActionState::Allow] {
            let t = track(state, true);
            assert_eq!(
                decide_add_passkey(Ok(&t)),
                Ok(AddPasskey {
                    token: "t".into(),
                    idempotency_key: "idem-1".into()
                })
            );
        }
    }

    #[test]
    fn adding_a_passkey_is_refused_when_blocked_or_under_review_and_fails_closed_otherwise() {
        assert_eq!(
            decide_add_passkey(Ok(&track(UserActionState::Block, true))),
            Err(Decision::Block)
        );
        assert_eq!(
            decide_add_passkey(Ok(&track(UserActionState::ReviewRequired, true))),
            Err(Decision::Review)
        );
        assert!(matches!(
            decide_add_passkey(Ok(&track(UserActionState::ChallengeFailed, true))),
            Err(Decision::Fail(FailReason::UnexpectedState(_)))
        ));
        assert!(matches!(
            decide_add_passkey(Err(&SdkError::Timeout)),
            Err(Decision::Fail(FailReason::Unavailable(_)))
        ));
        let mut no_token = track(UserActionState::ChallengeRequired, true);
        no_token.token = String::new();
        assert!(matches!(
            decide_add_passkey(Ok(&no_token)),
            Err(Decision::Fail(FailReason::Sdk(_)))
        ));
        let mut no_key = track(UserActionState::ChallengeRequired, true);
        no_key.idempotency_key = String::new();
        assert_eq!(
            decide_add_passkey(Ok(&no_key)),
            Err(Decision::Fail(FailReason::MissingIdempotencyKey))
        );
    }

    fn passkey_validated() -> ValidateChallengeResponse {
        ValidateChallengeResponse {
            is_valid: true,
            state: Some(UserActionState::ChallengeSucceeded),
            user_id: Some("sub-1".into()),
            action: Some("identity-server-passkey-login".into()),
            action_code: Some("identity-server-passkey-login".into()),
            idempotency_key: Some("pk-1".into()),
            verification_method: Some(VerificationMethod::Passkey),
            ..Default::default()
        }
    }

    const PASSKEY_LOGIN: ExpectedPasskey<'static> = ExpectedPasskey {
        user_id: None,
        action: "identity-server-passkey-login",
        idempotency_key: "pk-1",
    };

    #[test]
    fn a_passkey_sign_in_of_this_transaction_names_its_user() {
        assert_eq!(
            check_passkey_validation(Ok(&passkey_validated()), PASSKEY_LOGIN),
            Ok("sub-1".to_owned())
        );
    }

    #[test]
    fn a_passkey_token_that_is_not_valid_is_rejected() {
        let mut v = passkey_validated();
        v.is_valid = false;
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::NotValid)
        );
    }

    #[test]
    fn a_passkey_token_of_an_action_that_did_not_succeed_is_rejected() {
        let mut v = passkey_validated();
        v.state = Some(UserActionState::ChallengeRequired);
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::WrongState(Some("CHALLENGE_REQUIRED".into())))
        );
    }

    #[test]
    fn a_passkey_token_of_another_action_is_rejected() {
        let mut v = passkey_validated();
        v.action = Some("add-passkey".into());
        v.action_code = Some("add-passkey".into());
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::WrongAction)
        );
    }

    #[test]
    fn a_passkey_token_of_another_transaction_is_rejected() {
        let mut v = passkey_validated();
        v.idempotency_key = Some("pk-2".into());
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::WrongIdempotencyKey)
        );
    }

    #[test]
    fn a_token_passed_with_another_method_than_a_passkey_is_rejected() {
        let mut v = passkey_validated();
        v.verification_method = Some(VerificationMethod::AuthenticatorApp);
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::WrongMethod(Some("AUTHENTICATOR_APP".into())))
        );
        v.verification_method = None;
        assert_eq!(
            check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
            Err(Rejection::WrongMethod(None))
        );
    }

    #[test]
    fn a_passkey_token_naming_no_user_is_rejected() {
        for user in [None, Some(String::new()), Some(" ".into())] {
            let mut v = passkey_validated();
            v.user_id = user;
            assert_eq!(
                check_passkey_validation(Ok(&v), PASSKEY_LOGIN),
                Err(Rejection::WrongUser)
            );
        }
    }

    #[test]
    fn an_added_passkey_must_belong_to_the_session_user() {
        let add = ExpectedPasskey {
            user_id: Some("sub-1"),
            action: "identity-server-passkey-login",
            idempotency_key: "pk-1",
        };
        assert_eq!(
            check_passkey_validation(Ok(&passkey_validated()), add),
            Ok("sub-1".to_owned())
        );
        let mut v = passkey_validated();
        v.user_id = Some("sub-2".into());
        assert_eq!(
            check_passkey_validation(Ok(&v), add),
            Err(Rejection::WrongUser)
        );
    }

    #[test]
    fn a_failed_validate_of_a_passkey_token_counts_as_unavailable_unless_definitive() {
        let rejection =
            check_passkey_validation(Err(&SdkError::Timeout), PASSKEY_LOGIN).unwrap_err();
        assert!(rejection.is_unavailable());
        let rejection = check_passkey_validation(Err(&api_error(400)), PASSKEY_LOGIN).unwrap_err();
        assert!(!rejection.is_unavailable());
        assert!(Rejection::Store("down".into()).is_unavailable());
        assert!(!Rejection::UnknownUser.is_unavailable());
        assert!(!Rejection::WrongMethod(None).is_unavailable());
    }

    #[test]
    fn a_passkey_sign_in_claims_proof_of_possession_a_software_key_and_mfa() {
        assert_eq!(PASSKEY_AMR, ["pop", "swk", "mfa"]);
    }

    #[test]
    fn amr_names_password_mfa_and_the_method() {
        assert_eq!(
            amr_for(Some(&VerificationMethod::AuthenticatorApp)),
            ["pwd", "mfa", "otp"]
        );
        assert_eq!(
            amr_for(Some(&VerificationMethod::EmailOtp)),
            ["pwd", "mfa", "otp"]
        );
        assert_eq!(
            amr_for(Some(&VerificationMethod::Sms)),
            ["pwd", "mfa", "sms"]
        );
        assert_eq!(
            amr_for(Some(&VerificationMethod::SecurityKey)),
            ["pwd", "mfa", "hwk"]
        );
        assert_eq!(amr_for(None), ["pwd", "mfa"]);
        assert_eq!(
            amr_for(Some(&VerificationMethod::from_wire("NEW_THING"))),
            ["pwd", "mfa"]
        );
    }
}
