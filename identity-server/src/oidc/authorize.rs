//! Authorization request validation (OpenID Connect Core 3.1.2, RFC 6749 4.1, RFC 7636,
//! RFC 9700) and the decision what to do with a valid request given the current session.

use std::collections::HashMap;

use super::acr::{self, Acr, AcrRequest};
use super::{param, pkce};
use crate::domain::{Client, GrantType, is_valid_scope_token, parse_scope};
use crate::error::ErrorCode;
use crate::store::Session;

/// Longest accepted `id_token_hint` (a signed JWT; it is not stored).
pub const MAX_PARAM_LEN: usize = 2048;

/// Longest accepted `state` and `nonce` (stored with the pending request and echoed).
pub const MAX_STATE_LEN: usize = 512;

/// Longest accepted `login_hint`, `acr_values`, `ui_locales` and `claims_locales`.
pub const MAX_HINT_LEN: usize = 256;

/// The scope that asks for a refresh token (OpenID Connect Core 11).
pub const OFFLINE_ACCESS: &str = "offline_access";

pub use crate::store::records::AuthorizeRequest;

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page(String),
    /// Redirect the error to the (validated) redirect URI.
    Redirect {
        /// Where to.
        redirect_uri: String,
        /// Echoed.
        state: Option<String>,
        /// The code.
        code: ErrorCode,
        /// The description.
        description: String,
    },
}

/// Validates the parameters of an authorization request against the registered clients.
/// `known_scopes` are every scope this provider knows (identity and API scopes).
pub fn validate(
    params: &[(String, String)],
    clients: &HashMap<String, Client>,
    known_scopes: &[String],
) -> Result<AuthorizeRequest, AuthorizeError> {
    let Some(client_id) = param(params, "client_id") else {
        return Err(AuthorizeError::Page(
            "The request names no client (client_id is missing).".into(),
        ));
    };
    let Some(client) = clients.get(client_id) else {
        return Err(AuthorizeError::Page(format!(
            "The client '{}' is not registered.",
            truncate(client_id)
        )));
    };
    let Some(redirect_uri) = param(params, "redirect_uri") else {
        return Err(AuthorizeError::Page(
            "The request has no redirect_uri.".into(),
        ));
    };
    // Exact string comparison (RFC 9700 2.1): no normalisation, an added query does not match.
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(AuthorizeError::Page(format!(
            "The redirect_uri '{}' is not registered for the client '{}'.",
            truncate(redirect_uri),
            client.client_id
        )));
    }
    let state = param(params, "state").map(str::to_owned);
    // Every error redirect carries the exact `state` the client sent (RFC 6749 4.1.2.1), an
    // over-long one included: the refusal must reach the client in a form it can match to its
    // request. Its size is bounded by the request itself (URI and body limits), and it is
    // never stored.
    let fail = |code: ErrorCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        code,
        description: description.to_owned(),
    };

    // Unauthenticated callers store these with a pending request: keep them small.
    for (name, max) in [
        ("state", MAX_STATE_LEN),
        ("nonce", MAX_STATE_LEN),
        ("login_hint", MAX_HINT_LEN),
        ("acr_values", MAX_HINT_LEN),
        ("ui_locales", MAX_HINT_LEN),
        ("claims_locales", MAX_HINT_LEN),
        ("id_token_hint", MAX_PARAM_LEN),
    ] {
        if param(params, name).is_some_and(|v| v.len() > max) {
            return Err(fail(
                ErrorCode::InvalidRequest,
                &format!("{name} is too long"),
            ));
        }
    }
    let (acr_requested, acr_essential) =
        match acr::parse_request(param(params, "acr_values"), param(params, "claims")) {
            Ok(parsed) => parsed,
            Err(acr::ParseError::Invalid(description)) => {
                return Err(fail(ErrorCode::InvalidRequest, &description));
            }
            Err(acr::ParseError::Unmeetable) => {
                return Err(fail(
                    ErrorCode::UnmetAuthenticationRequirements,
                    "none of the essential acr values is supported",
                ));
            }
        };
    if param(params, "request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if param(params, "request_uri").is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match param(params, "response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code flow",
        ));
    }
    if let Some(mode) = param(params, "response_mode")
        && mode != "query"
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }

    let Some(scope) = param(params, "scope") else {
        return Err(fail(ErrorCode::InvalidScope, "scope is missing"));
    };
    let scope = parse_scope(scope);
    if !scope.iter().all(|s| is_valid_scope_token(s)) {
        return Err(fail(ErrorCode::InvalidScope, "scope is malformed"));
    }
    if !scope.iter().any(|s| s == "openid") {
        return Err(fail(
            ErrorCode::InvalidScope,
            "the openid scope is required",
        ));
    }
    // `offline_access` (OpenID Connect Core 11) asks for a refresh token: it is allowed for
    // every client that may use the refresh grant, as Duende-style relying parties expect,
    // without listing it among the client's scopes; refused for the others.
    let allowed = |s: &String| {
        if s == OFFLINE_ACCESS {
            client.allows(GrantType::RefreshToken)
        } else {
            known_scopes.contains(s) && client.scopes.contains(s)
        }
    };
    if let Some(unknown) = scope.iter().find(|s| !allowed(s)) {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!(
                "scope '{}' is not allowed for this client",
                truncate(unknown)
            ),
        ));
    }

    let challenge = param(params, "code_challenge");
    let method = param(params, "code_challenge_method");
    let code_challenge = match (challenge, method) {
        (None, Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.require_pkce => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "pkce is required: send code_challenge with method S256",
            ));
        }
        (None, None) => None,
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        (Some(c), Some("S256")) => {
            if !pkce::is_valid_s256_challenge(c) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge is not a base64url sha-256 value",
                ));
            }
            Some(c.to_owned())
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
    };

    let prompts: Vec<&str> = param(params, "prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for p in &prompts {
        if !matches!(*p, "none" | "login" | "consent" | "select_account") {
            return Err(fail(
                ErrorCode::InvalidRequest,
                &format!("prompt '{}' is not supported", truncate(p)),
            ));
        }
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match param(params, "max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };

    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state,
        nonce: param(params, "nonce").map(str::to_owned),
        code_challenge,
        prompt_login: prompts.contains(&"login"),
        prompt_none,
        max_age,
        login_hint: param(params, "login_hint").map(str::to_owned),
        acr_values: param(params, "acr_values").map(str::to_owned),
        ui_locales: param(params, "ui_locales").map(str::to_owned),
        acr_requested,
        acr_essential,
    })
}

/// The `acr` requirement of a stored request.
pub fn acr_request(request: &AuthorizeRequest) -> AcrRequest {
    AcrRequest::from_stored(&request.acr_requested, request.acr_essential)
}

/// Whether a session at `level` leaves the request's *essential* `acr` unmet: the answer is
/// then `unmet_authentication_requirements`, never a code. A voluntary request is never unmet:
/// it goes on at the level reached.
pub fn is_unmet(request: &AuthorizeRequest, level: Acr) -> bool {
    let wanted = acr_request(request);
    wanted.essential && !wanted.is_met_by(level)
}

/// Whether [`decide`] needs to know if the signed-in user could still reach [`Acr::Phr`] (has a
/// passkey to sign in with): the request asks for it and the session is below it. Only then is
/// it worth asking Authsignal.
pub fn needs_passkey_lookup(request: &AuthorizeRequest, session: Option<&Session>) -> bool {
    let wanted = acr_request(request);
    wanted.minimum() == Some(Acr::Phr)
        && session.is_some_and(|s| Acr::of_session(&s.amr, s.step_up_at) < Acr::Phr)
}

fn truncate(value: &str) -> String {
    value.chars().take(100).collect()
}

/// What a valid request needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The session satisfies the request: issue a code.
    IssueCode,
    /// The user must sign in (and the login must reach the requested level).
    Login,
    /// `prompt=none` but a sign-in is needed: `login_required`.
    LoginRequired,
    /// The signed-in user must pass a fresh second factor (a step-up challenge) first.
    StepUp,
    /// `prompt=none` but a step-up is needed: `interaction_required`.
    InteractionRequired,
    /// An essential `acr` that this user cannot reach: `unmet_authentication_requirements`.
    Unmet,
}

/// Whether something that happened at `at` is older than `max_age` at `now` (`max_age=0`: always).
fn older_than(at: i64, max_age: i64, now: i64) -> bool {
    max_age == 0 || now.saturating_sub(at) > max_age
}

/// Decides, from the request and the current session, what happens next.
///
/// - No session, `prompt=login`, or an `id_token_hint` naming another user (OpenID Connect Core
///   3.1.2.1) need a sign-in; so does `max_age` exceeded when no second factor is asked for.
/// - `acr` asked for ([`acr_request`]): a session of the right user below the lowest accepted
///   level, or (with `max_age`) whose sign-in or last second factor
///   ([`Session::last_second_factor`]) is older than `max_age`, needs a step-up (a fresh
///   second factor, [`Next::StepUp`]) instead of a new login. A phishing-resistant level is
///   reached by a passkey sign-in only: with one the user has (`phr_reachable`) the user signs
///   in again; without, an essential request is [`Next::Unmet`] and a voluntary one settles for
///   a second factor.
/// - With `prompt=none`, a needed sign-in is `login_required` and a needed step-up
///   `interaction_required`: never a code.
pub fn decide(
    request: &AuthorizeRequest,
    session: Option<&Session>,
    hint_subject: Option<&str>,
    now: i64,
    phr_reachable: bool,
) -> Next {
    let login = if request.prompt_none {
        Next::LoginRequired
    } else {
        Next::Login
    };
    let step_up = if request.prompt_none {
        Next::InteractionRequired
    } else {
        Next::StepUp
    };
    let Some(s) = session else {
        return login;
    };
    if request.prompt_login || hint_subject.is_some_and(|sub| sub != s.subject) {
        return login;
    }
    let level = Acr::of_session(&s.amr, s.step_up_at);
    let wanted = acr_request(request);
    let mut target = match wanted.minimum() {
        Some(min) if min >= Acr::Mfa => min,
        // No second factor asked for: `max_age` means a new login, as it always did.
        _ => {
            return if request
                .max_age
                .is_some_and(|max_age| older_than(s.auth_time, max_age, now))
            {
                login
            } else {
                Next::IssueCode
            };
        }
    };
    let stale = |at: Option<i64>| {
        request
            .max_age
            .is_some_and(|max_age| at.is_none_or(|at| older_than(at, max_age, now)))
    };
    if target == Acr::Phr {
        if level == Acr::Phr && !stale(Some(s.auth_time)) {
            return Next::IssueCode;
        }
        if phr_reachable {
            return login;
        }
        if wanted.essential {
            return Next::Unmet;
        }
        // Voluntary: the best this user can do is a second factor.
        target = Acr::Mfa;
    }
    debug_assert_eq!(target, Acr::Mfa);
    if level >= target && !stale(Some(s.auth_time)) && !stale(s.last_second_factor()) {
        Next::IssueCode
    } else {
        step_up
    }
}

/// The redirect that carries an error back to the client (with `iss`, RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    code: ErrorCode,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("error", code.as_str());
    query.append_pair("error_description", description);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    query.append_pair("iss", issuer);
    append_query(redirect_uri, &query.finish())
}

/// The redirect that carries a code back to the client.
pub fn code_redirect(redirect_uri: &str, code: &str, state: Option<&str>, issuer: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", code);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    query.append_pair("iss", issuer);
    append_query(redirect_uri, &query.finish())
}

/// Appends query parameters to a URI that may already carry a query (kept, RFC 6749 3.1.2).
pub fn append_query(uri: &str, query: &str) -> String {
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> HashMap<String, Client> {
        let mut map = HashMap::new();
        for c in crate::configuration::Settings::default().clients.iter() {
            map.insert(c.client_id.clone(), Client::from(c));
        }
        map
    }

    fn known() -> Vec<String> {
        ["openid", "profile", "email", "api1"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(extra: &[(&str, &str)], drop: &[&str]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("client_id", "web"),
            ("redirect_uri", "https://localhost:5002/signin-oidc"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .filter(|(k, _)| !drop.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k.to_string(), v.to_string()));
        }
        p
    }

    fn redirect_code(result: Result<AuthorizeRequest, AuthorizeError>) -> ErrorCode {
        match result {
            Err(AuthorizeError::Redirect { code, state, .. }) => {
                assert_eq!(state.as_deref(), Some("st"));
                code
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_is_valid() {
        let req = validate(
            &params(
                &[("nonce", "n"), ("max_age", "10"), ("login_hint", "alice")],
                &[],
            ),
            &clients(),
            &known(),
        )
        .unwrap();
        assert_eq!(req.scope, vec!["openid", "profile"]);
        assert_eq!(req.nonce.as_deref(), Some("n"));
        assert_eq!(req.max_age, Some(10));
        assert_eq!(req.login_hint.as_deref(), Some("alice"));
    }

    #[test]
    fn an_unknown_client_or_redirect_uri_shows_a_page() {
        assert!(matches!(
            validate(&params(&[("client_id", "evil")], &[]), &clients(), &known()),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            validate(&params(&[], &["client_id"]), &clients(), &known()),
            Err(AuthorizeError::Page(_))
        ));
        for uri in [
            "https://localhost:5002/signin-oidc?x=1",
            "https://localhost:5002/signin-oidc/",
            "https://evil/cb",
        ] {
            assert!(matches!(
                validate(&params(&[("redirect_uri", uri)], &[]), &clients(), &known()),
                Err(AuthorizeError::Page(_))
            ));
        }
    }

    #[test]
    fn other_errors_redirect_with_the_right_code() {
        let c = clients();
        let k = known();
        assert_eq!(
            redirect_code(validate(&params(&[], &["response_type"]), &c, &k)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(
                &params(&[("response_type", "token")], &[]),
                &c,
                &k
            )),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            redirect_code(validate(&params(&[("scope", "openid api1")], &[]), &c, &k)),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirect_code(validate(&params(&[("scope", "profile")], &[]), &c, &k)),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirect_code(validate(
                &params(&[], &["code_challenge", "code_challenge_method"]),
                &c,
                &k
            )),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(
                &params(&[("code_challenge_method", "plain")], &[]),
                &c,
                &k
            )),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(&params(&[], &["code_challenge_method"]), &c, &k)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(&params(&[], &["code_challenge"]), &c, &k)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(&params(&[("prompt", "none login")], &[]), &c, &k)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(&params(&[("max_age", "-1")], &[]), &c, &k)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_code(validate(&params(&[("request", "x")], &[]), &c, &k)),
            ErrorCode::RequestNotSupported
        );
    }

    #[test]
    fn unknown_parameters_and_hints_do_not_break_the_request() {
        let extra = [
            ("ui_locales", "de"),
            ("claims_locales", "de"),
            ("acr_values", "mfa"),
            ("foo", "bar"),
            ("id_token_hint", "x"),
        ];
        assert!(validate(&params(&extra, &[]), &clients(), &known()).is_ok());
    }

    fn session(auth_time: i64) -> Session {
        Session {
            sid: "s".into(),
            subject: "u".into(),
            auth_time,
            amr: vec![],
            remember: false,
            created: auth_time,
            last_seen: auth_time,
            step_up_at: None,
            clients: Vec::new(),
            device: Default::default(),
        }
    }

    #[test]
    fn the_session_decides_between_code_and_login() {
        let req = validate(&params(&[], &[]), &clients(), &known()).unwrap();
        assert_eq!(decide(&req, None, None, 100, false), Next::Login);
        assert_eq!(
            decide(&req, Some(&session(90)), None, 100, false),
            Next::IssueCode
        );
        let none = AuthorizeRequest {
            prompt_none: true,
            ..req.clone()
        };
        assert_eq!(decide(&none, None, None, 100, false), Next::LoginRequired);
        let login = AuthorizeRequest {
            prompt_login: true,
            ..req.clone()
        };
        assert_eq!(
            decide(&login, Some(&session(99)), None, 100, false),
            Next::Login
        );
        let max_age = AuthorizeRequest {
            max_age: Some(5),
            ..req.clone()
        };
        assert_eq!(
            decide(&max_age, Some(&session(90)), None, 100, false),
            Next::Login
        );
        assert_eq!(
            decide(&max_age, Some(&session(97)), None, 100, false),
            Next::IssueCode
        );
        let zero = AuthorizeRequest {
            max_age: Some(0),
            ..req
        };
        assert_eq!(
            decide(&zero, Some(&session(100)), None, 100, false),
            Next::Login
        );
    }

    #[test]
    fn an_id_token_hint_for_another_user_than_the_session_is_not_satisfied_by_the_session() {
        let req = validate(&params(&[], &[]), &clients(), &known()).unwrap();
        let none = AuthorizeRequest {
            prompt_none: true,
            ..req.clone()
        };
        // The session is "u"'s.
        assert_eq!(
            decide(&none, Some(&session(90)), Some("bob"), 100, false),
            Next::LoginRequired
        );
        assert_eq!(
            decide(&req, Some(&session(90)), Some("bob"), 100, false),
            Next::Login
        );
        assert_eq!(
            decide(&none, Some(&session(90)), Some("u"), 100, false),
            Next::IssueCode
        );
    }

    fn signed_in(amr: &[&str], auth_time: i64, step_up_at: Option<i64>) -> Session {
        Session {
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            step_up_at,
            ..session(auth_time)
        }
    }

    fn asking(extra: &[(&str, &str)]) -> AuthorizeRequest {
        validate(&params(extra, &[]), &clients(), &known()).unwrap()
    }

    fn essential(value: &str) -> String {
        format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{value}"]}}}}}}"#)
    }

    #[test]
    fn acr_values_and_the_claims_parameter_are_kept_with_the_request() {
        let req = asking(&[("acr_values", &format!("loa2 {} {}", acr::PHR, acr::MFA))]);
        assert_eq!(req.acr_requested, [acr::PHR, acr::MFA]);
        assert!(!req.acr_essential);
        let req = asking(&[("acr_values", acr::PWD), ("claims", &essential(acr::MFA))]);
        assert_eq!(req.acr_requested, [acr::MFA]);
        assert!(req.acr_essential);
    }

    #[test]
    fn a_malformed_claims_parameter_is_an_invalid_request() {
        for bad in ["{", "[]", r#"{"id_token":{"acr":{"values":[true]}}}"#] {
            assert_eq!(
                redirect_code(validate(
                    &params(&[("claims", bad)], &[]),
                    &clients(),
                    &known()
                )),
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn an_essential_acr_of_unknown_values_only_is_unmet_at_once() {
        assert_eq!(
            redirect_code(validate(
                &params(&[("claims", &essential("loa3"))], &[]),
                &clients(),
                &known()
            )),
            ErrorCode::UnmetAuthenticationRequirements
        );
    }

    #[test]
    fn a_password_only_session_asked_for_mfa_steps_up_and_prompt_none_needs_interaction() {
        let req = asking(&[("acr_values", acr::MFA)]);
        let pwd = signed_in(&["pwd"], 90, None);
        assert_eq!(decide(&req, Some(&pwd), None, 100, false), Next::StepUp);
        let none = AuthorizeRequest {
            prompt_none: true,
            ..req.clone()
        };
        assert_eq!(
            decide(&none, Some(&pwd), None, 100, false),
            Next::InteractionRequired
        );
        // No session at all: a login (which must then reach the level), or login_required.
        assert_eq!(decide(&req, None, None, 100, false), Next::Login);
        assert_eq!(decide(&none, None, None, 100, false), Next::LoginRequired);
        // A session of another user (by the hint) signs in again.
        assert_eq!(
            decide(&req, Some(&pwd), Some("other"), 100, false),
            Next::Login
        );
    }

    #[test]
    fn a_session_with_a_second_factor_satisfies_mfa_and_a_step_up_counts_as_one() {
        let req = asking(&[("acr_values", acr::MFA)]);
        let mfa = signed_in(&["pwd", "mfa", "otp"], 10, None);
        assert_eq!(decide(&req, Some(&mfa), None, 100, false), Next::IssueCode);
        let stepped = signed_in(&["pwd"], 10, Some(50));
        assert_eq!(
            decide(&req, Some(&stepped), None, 100, false),
            Next::IssueCode
        );
        let passkey = signed_in(&["pop", "swk", "mfa"], 10, None);
        assert_eq!(
            decide(&req, Some(&passkey), None, 100, false),
            Next::IssueCode
        );
        // Asking for the password level asks for no second factor.
        let pwd_only = asking(&[("acr_values", acr::PWD)]);
        assert_eq!(
            decide(
                &pwd_only,
                Some(&signed_in(&["pwd"], 10, None)),
                None,
                100,
                false
            ),
            Next::IssueCode
        );
    }

    #[test]
    fn a_second_factor_older_than_max_age_needs_a_step_up_not_a_new_login() {
        let req = asking(&[("acr_values", acr::MFA), ("max_age", "300")]);
        let old = signed_in(&["pwd", "mfa", "otp"], 1000, None);
        assert_eq!(decide(&req, Some(&old), None, 1301, false), Next::StepUp);
        assert_eq!(decide(&req, Some(&old), None, 1300, false), Next::IssueCode);
        // A recent step-up of an old sign-in: the sign-in time is what the ID token says, so
        // it must be fresh too.
        let stepped = signed_in(&["pwd"], 0, Some(1290));
        assert_eq!(
            decide(&req, Some(&stepped), None, 1300, false),
            Next::StepUp
        );
        let stepped_now = signed_in(&["pwd", "mfa", "otp"], 1290, Some(1290));
        assert_eq!(
            decide(&req, Some(&stepped_now), None, 1300, false),
            Next::IssueCode
        );
        let zero = asking(&[("acr_values", acr::MFA), ("max_age", "0")]);
        assert_eq!(
            decide(&zero, Some(&stepped_now), None, 1290, false),
            Next::StepUp
        );
    }

    #[test]
    fn max_age_without_a_second_factor_asked_for_still_means_a_new_login() {
        let req = asking(&[("max_age", "300")]);
        let old = signed_in(&["pwd", "mfa", "otp"], 1000, None);
        assert_eq!(decide(&req, Some(&old), None, 1301, false), Next::Login);
        let pwd = asking(&[("max_age", "300"), ("acr_values", acr::PWD)]);
        assert_eq!(decide(&pwd, Some(&old), None, 1301, false), Next::Login);
    }

    #[test]
    fn a_phishing_resistant_level_needs_a_passkey_sign_in_or_is_unmet_when_essential() {
        let voluntary = asking(&[("acr_values", acr::PHR)]);
        let strict = asking(&[("claims", &essential(acr::PHR))]);
        let mfa = signed_in(&["pwd", "mfa", "otp"], 90, None);
        let pwd = signed_in(&["pwd"], 90, None);
        // The user has a passkey: sign in with it.
        assert_eq!(decide(&strict, Some(&mfa), None, 100, true), Next::Login);
        // No passkey: essential is unmet, whatever prompt says.
        assert_eq!(decide(&strict, Some(&mfa), None, 100, false), Next::Unmet);
        let strict_none = AuthorizeRequest {
            prompt_none: true,
            ..strict.clone()
        };
        assert_eq!(
            decide(&strict_none, Some(&mfa), None, 100, false),
            Next::Unmet
        );
        // Voluntary: settle for a second factor.
        assert_eq!(
            decide(&voluntary, Some(&mfa), None, 100, false),
            Next::IssueCode
        );
        assert_eq!(
            decide(&voluntary, Some(&pwd), None, 100, false),
            Next::StepUp
        );
        // A passkey session satisfies it.
        let passkey = signed_in(&["pop", "swk", "mfa"], 90, None);
        assert_eq!(
            decide(&strict, Some(&passkey), None, 100, false),
            Next::IssueCode
        );
        assert!(needs_passkey_lookup(&strict, Some(&mfa)));
        assert!(!needs_passkey_lookup(&strict, Some(&passkey)));
        assert!(!needs_passkey_lookup(&strict, None));
        assert!(!needs_passkey_lookup(
            &asking(&[("acr_values", acr::MFA)]),
            Some(&pwd)
        ));
    }

    #[test]
    fn only_an_essential_acr_can_be_unmet_after_a_sign_in() {
        let strict = asking(&[("claims", &essential(acr::MFA))]);
        assert!(is_unmet(&strict, Acr::Pwd));
        assert!(!is_unmet(&strict, Acr::Mfa));
        assert!(!is_unmet(&asking(&[("acr_values", acr::MFA)]), Acr::Pwd));
        assert!(!is_unmet(&asking(&[]), Acr::Pwd));
    }

    #[test]
    fn offline_access_is_allowed_exactly_for_clients_that_may_refresh() {
        let scope = [("scope", "openid offline_access")];
        let req = validate(&params(&scope, &[]), &clients(), &known()).unwrap();
        assert_eq!(req.scope, vec!["openid", OFFLINE_ACCESS]);
        let mut no_refresh = clients();
        if let Some(web) = no_refresh.get_mut("web") {
            web.grant_types.retain(|g| *g != GrantType::RefreshToken);
        }
        assert_eq!(
            redirect_code(validate(&params(&scope, &[]), &no_refresh, &known())),
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn an_over_long_state_is_refused_and_echoed_exactly() {
        let long = "s".repeat(MAX_STATE_LEN + 1);
        match validate(&params(&[("state", &long)], &[]), &clients(), &known()) {
            Err(AuthorizeError::Redirect { code, state, .. }) => {
                assert_eq!(code, ErrorCode::InvalidRequest);
                assert_eq!(state.as_deref(), Some(long.as_str()));
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn redirects_keep_an_existing_query_and_carry_iss() {
        let url = code_redirect("https://a/cb?x=1", "c", Some("s t"), "https://idp");
        assert_eq!(
            url,
            "https://a/cb?x=1&code=c&state=s+t&iss=https%3A%2F%2Fidp"
        );
        let url = error_redirect(
            "https://a/cb",
            ErrorCode::AccessDenied,
            "no",
            None,
            "https://idp",
        );
        assert_eq!(
            url,
            "https://a/cb?error=access_denied&error_description=no&iss=https%3A%2F%2Fidp"
        );
    }
}
