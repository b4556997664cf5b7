//! What the account pages share: one context struct per template, the notices a redirect may
//! ask the login page to show, and small request helpers (client address and its lockout key,
//! request id, strict query and form parsing that answers bad input with the HTML error page).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lockout::LockoutKey;
use crate::error::AppError;
use crate::state::AppState;

/// Context of `account/login.html`.
#[derive(Debug, Serialize)]
pub struct LoginPage {
    /// Pending authorize request id (hidden field).
    pub ar: String,
    /// CSRF token (hidden field).
    pub csrf_token: String,
    /// Pre-filled username (`login_hint` or the last attempt).
    pub username: String,
    /// Whether "remember my login" is ticked.
    pub remember: bool,
    /// Display name of the client that asked for the sign-in.
    pub client_name: Option<String>,
    /// An error about the last attempt.
    pub error: Option<String>,
    /// An informational notice (after account creation, after a failed second factor).
    pub notice: Option<String>,
    /// Link to the account-creation page, carrying `ar`.
    pub create_url: String,
    /// Put the focus on the password (after a wrong one: the username is kept).
    pub focus_password: bool,
    /// What the passkey script needs; `None`: the page offers the password only.
    pub passkey: Option<super::passkey_login::PasskeyOffer>,
    /// Wrong passwords typed in this form for `username` so far (hidden fields `failures` and
    /// `failures_for`): what "1 attempt left" is told from ([`super::login`]).
    pub failures: u32,
}

/// Context of `account/create.html`.
#[derive(Debug, Serialize)]
pub struct CreatePage {
    /// Pending authorize request id, if the user came from a login page.
    pub ar: String,
    /// CSRF token (hidden field).
    pub csrf_token: String,
    /// Submitted username.
    pub username: String,
    /// Submitted name.
    pub name: String,
    /// Submitted email.
    pub email: String,
    /// What is wrong with the submission as a whole (quota, busy, ...).
    pub errors: Vec<String>,
    /// What is wrong with each field, shown at the field.
    pub field_errors: FieldErrors,
    /// The field that gets the focus: the first one in error, else the username.
    pub focus: &'static str,
    /// Password length limits shown on the page.
    pub min_password: usize,
    /// Recommended password length.
    pub recommended_password: usize,
    /// Longest password accepted.
    pub max_password: usize,
    /// Link back to the login page, if there is one.
    pub back_url: Option<String>,
}

/// The problems of the account-creation form, each shown at its field.
#[derive(Debug, Default, Serialize)]
pub struct FieldErrors {
    /// Username.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
}

impl FieldErrors {
    /// Whether any field is in error.
    pub fn any(&self) -> bool {
        self.first().is_some()
    }

    /// The first field in error, in page order.
    pub fn first(&self) -> Option<&'static str> {
        [
            ("username", &self.username),
            ("password", &self.password),
            ("name", &self.name),
            ("email", &self.email),
        ]
        .into_iter()
        .find(|(_, e)| e.is_some())
        .map(|(f, _)| f)
    }
}

/// Context of `account/notice.html`: a clear page for refusals and failures.
#[derive(Debug, Serialize)]
pub struct NoticePage {
    /// Heading.
    pub title: String,
    /// What happened and what to do.
    pub message: String,
    /// Styles the message as an error.
    pub is_error: bool,
    /// The request id to quote to support, when something failed.
    pub reference: Option<String>,
    /// Where to go next.
    pub link_url: Option<String>,
    /// Text of that link.
    pub link_text: String,
}

/// Notices the login page shows when a redirect asks for them (`?notice=`); a fixed set, so no
/// text from the URL ever reaches the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginNotice {
    /// The second factor was not completed for this login.
    MfaFailed,
    /// The second factor failed: too many wrong codes (Authsignal ended the challenge).
    MfaAttempts,
    /// Authsignal could not confirm the second factor.
    MfaUnavailable,
    /// An account was just created.
    Created,
    /// A passkey sign-in was refused or its transaction was gone.
    PasskeyFailed,
    /// The client address is locked out (after a passkey sign-in attempt).
    LockedOut,
}

impl LoginNotice {
    /// The value in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Self::MfaFailed => "mfa_failed",
            Self::MfaAttempts => "mfa_attempts",
            Self::MfaUnavailable => "mfa_unavailable",
            Self::Created => "created",
            Self::PasskeyFailed => "passkey_failed",
            Self::LockedOut => "locked_out",
        }
    }

    /// Parses the value of `?notice=`; anything else is ignored.
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::MfaFailed,
            Self::MfaAttempts,
            Self::MfaUnavailable,
            Self::Created,
            Self::PasskeyFailed,
            Self::LockedOut,
        ]
        .into_iter()
        .find(|n| n.code() == code)
    }

    /// The text shown, and whether it is an error.
    pub fn text(self) -> (&'static str, bool) {
        match self {
            Self::MfaFailed => (
                "The second factor was not completed, so you are not signed in. Please sign in again.",
                true,
            ),
            Self::MfaAttempts => (
                "Too many wrong codes were entered, so this sign-in was stopped and you are not signed in. Sign in again to get a new challenge.",
                true,
            ),
            Self::MfaUnavailable => (
                "The second factor could not be checked right now, so you are not signed in. Please try again in a few minutes.",
                true,
            ),
            Self::Created => (
                "Your account was created. Sign in now; you will set up your second factor next.",
                false,
            ),
            Self::PasskeyFailed => (
                "The passkey sign-in did not complete, so you are not signed in. Try again, or sign in with your password.",
                true,
            ),
            Self::LockedOut => (
                "Too many failed sign-in attempts. Please wait a few minutes and try again.",
                true,
            ),
        }
    }
}

/// `/Account/Login?ar=<id>` (and an optional notice), with the id percent-encoded.
pub fn login_url(ar: &str, notice: Option<LoginNotice>) -> String {
    let mut url = format!("/Account/Login?ar={}", encode(ar));
    if let Some(n) = notice {
        url.push_str("&notice=");
        url.push_str(n.code());
    }
    url
}

/// `/Account/Create`, carrying `ar` when there is one.
pub fn create_url(ar: &str) -> String {
    if ar.is_empty() {
        "/Account/Create".to_owned()
    } else {
        format!("/Account/Create?ar={}", encode(ar))
    }
}

/// Everything but RFC 3986 unreserved characters is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// The client's IP address: the peer of the TCP connection. Forwarding headers are not trusted
/// (anyone can send them); behind a reverse proxy this is the proxy's address. This full address
/// goes to the logs and to Authsignal's risk rules; counters use [`client_key`].
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// The lockout and throttle key of the client: its IPv4 address, or the /64 network of its IPv6
/// address (one host can rotate through the addresses of its /64 at will).
pub fn client_key(req: &HttpRequest) -> LockoutKey {
    req.peer_addr()
        .map_or_else(LockoutKey::unknown_ip, |a| LockoutKey::ip(a.ip()))
}

/// The id the request logger gave this request, quoted on failure pages and in the logs.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string)
}

/// The `User-Agent` header, bounded in length.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect())
}

/// Parses the query string into `T`; bad input gives the 400 error page.
pub fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, AppError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|_| AppError::BadRequest("The address of this page is not valid.".into()))
}

/// Parses an `application/x-www-form-urlencoded` body into `T`; bad input gives the 400 page.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read. Please try again.".into()))
}

/// Renders a page with a status and, when the browser is new, the CSRF cookie.
pub fn render_page(
    state: &AppState,
    template: &str,
    context: &impl Serialize,
    status: StatusCode,
    csrf_cookie: Option<actix_web::cookie::Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    let mut response = crate::render(state, template, context)?;
    *response.status_mut() = status;
    if let Some(cookie) = csrf_cookie {
        response.add_cookie(&cookie).map_err(AppError::internal)?;
    }
    Ok(response)
}

/// Renders the notice page.
pub fn notice(
    state: &AppState,
    status: StatusCode,
    page: &NoticePage,
) -> Result<HttpResponse, AppError> {
    render_page(state, "account/notice.html", page, status, None)
}

/// The page for a form whose CSRF token is missing or wrong (nothing was changed).
pub fn csrf_failure(state: &AppState, back: Option<String>) -> Result<HttpResponse, AppError> {
    notice(
        state,
        StatusCode::FORBIDDEN,
        &NoticePage {
            title: "Form expired".into(),
            message: "This form has expired or was not sent from this site, so nothing was done. Reload the page and try again.".into(),
            is_error: true,
            reference: None,
            link_url: Some(back.unwrap_or_else(|| "/".to_owned())),
            link_text: "Back".into(),
        },
    )
}

/// The page for an `ar` that names no pending authorize request.
pub fn unknown_request() -> AppError {
    AppError::BadRequest(
        "This sign-in link is not valid or has expired. Please go back to the application and sign in again.".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_urls_encode_the_request_id() {
        assert_eq!(login_url("abc-_", None), "/Account/Login?ar=abc-_");
        assert_eq!(
            login_url("a&b=c", Some(LoginNotice::MfaFailed)),
            "/Account/Login?ar=a%26b%3Dc&notice=mfa_failed"
        );
    }

    #[test]
    fn only_known_notices_are_parsed() {
        assert_eq!(LoginNotice::parse("created"), Some(LoginNotice::Created));
        assert_eq!(LoginNotice::parse("<script>"), None);
        for n in [
            LoginNotice::MfaFailed,
            LoginNotice::MfaAttempts,
            LoginNotice::MfaUnavailable,
            LoginNotice::Created,
            LoginNotice::PasskeyFailed,
            LoginNotice::LockedOut,
        ] {
            assert_eq!(LoginNotice::parse(n.code()), Some(n));
        }
    }

    #[test]
    fn create_urls_carry_the_request_id_only_when_present() {
        assert_eq!(create_url(""), "/Account/Create");
        assert_eq!(create_url("xyz"), "/Account/Create?ar=xyz");
    }
}
