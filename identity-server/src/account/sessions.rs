//! `/Account/Sessions`: a signed-in user sees where they are signed in at this identity server
//! and ends those sessions.
//!
//! - `GET /Account/Sessions`: the user's live sessions ([`SessionStore::list`]), newest first,
//!   this browser's marked: browser (a label from the `User-Agent`), address (through the
//!   trusted proxies only), started, last used, methods.
//! - `POST /Account/Sessions/End` (CSRF, `sid`): revokes the user's grants issued in the session
//!   with that public id, ends it ([`SessionStore::end`]: a `sid` of another user's session, or
//!   of none, ends nothing and answers exactly like an unknown one) and queues a
//!   back-channel logout token for each of its clients. Ending this browser's own session is
//!   the same as logging out (and revokes its grants too).
//! - `POST /Account/Sessions/EndAll` (CSRF): "sign out everywhere": every session of the user,
//!   this one included, ends; every refresh grant of the user is revoked (also those of sessions
//!   that ended before); every ended session's clients get a back-channel logout; the browser
//!   lands on the logged-out page.
//!
//! The session's cookie handle never appears on the page: the forms carry the public `sid`.
//!
//! [`SessionStore::list`]: crate::store::SessionStore::list
//! [`SessionStore::end`]: crate::store::SessionStore::end

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::pages::{csrf_failure, parse_form, parse_query, render_page};
use crate::error::AppError;
use crate::oidc::now;
use crate::state::AppState;
use crate::store::Session;

/// The page.
pub const PATH: &str = "/Account/Sessions";
/// The form that ends one session.
pub const END_PATH: &str = "/Account/Sessions/End";
/// The form that ends every session ("sign out everywhere").
pub const END_ALL_PATH: &str = "/Account/Sessions/EndAll";
/// Longest `sid` looked up (ours are 43 characters).
const MAX_SID_BYTES: usize = 128;

/// What the page says after a form (`?notice=`): a fixed set, so no text from the URL reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionsNotice {
    /// The session was ended.
    Ended,
    /// No such session of this user (unknown, ended already, or another user's).
    NotFound,
}

impl SessionsNotice {
    /// The value in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::NotFound => "not_found",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        [Self::Ended, Self::NotFound]
            .into_iter()
            .find(|n| n.code() == code)
    }

    /// `/Account/Sessions?notice=<code>`.
    pub fn url(self) -> String {
        format!("{PATH}?notice={}", self.code())
    }
}

/// One session in the list.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionRow {
    /// The public session id (the "Sign out" form's value).
    pub sid: String,
    /// "Chrome on Linux".
    pub browser: String,
    /// The client address when it signed in.
    pub address: String,
    /// When it started, e.g. `2026-12-01 13:45 UTC`.
    pub started: String,
    /// When it was last used, e.g. "5 minutes ago".
    pub last_used: String,
    /// How the user signed in, in words.
    pub methods: String,
    /// Whether it is this browser's session.
    pub current: bool,
}

/// Context of `account/sessions.html`.
#[derive(Debug, Serialize)]
pub struct SessionsPage {
    /// CSRF token of the forms.
    pub csrf_token: String,
    /// Who is signed in.
    pub username: String,
    /// The sessions, newest first.
    pub sessions: Vec<SessionRow>,
    /// The most sessions one user keeps.
    pub max_sessions: usize,
    /// A notice after a form.
    pub notice: Option<String>,
    /// An error after a form.
    pub error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    notice: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndForm {
    csrf_token: String,
    sid: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf_token: String,
}

/// The authentication methods (RFC 8176 `amr`) in words: "password, one-time code".
pub fn methods_in_words(amr: &[String]) -> String {
    let words: Vec<&str> = amr
        .iter()
        .filter_map(|m| match m.as_str() {
            "pwd" => Some("password"),
            "otp" => Some("one-time code"),
            "sms" => Some("text message"),
            "hwk" => Some("security key"),
            "swk" | "pop" => Some("passkey"),
            "face" => Some("face"),
            // `mfa` says "more than one", which the others already show.
            _ => None,
        })
        .fold(Vec::new(), |mut acc, w| {
            if !acc.contains(&w) {
                acc.push(w);
            }
            acc
        });
    if words.is_empty() {
        "unknown".to_owned()
    } else {
        words.join(", ")
    }
}

/// The rows of the list at `now`, in the store's order (newest first); `current_sid` is marked.
pub fn rows(sessions: &[Session], current_sid: &str, now: i64) -> Vec<SessionRow> {
    sessions
        .iter()
        .map(|s| SessionRow {
            sid: s.sid.clone(),
            browser: if s.device.browser.is_empty() {
                "Unknown browser".to_owned()
            } else {
                s.device.browser.clone()
            },
            address: if s.device.address.is_empty() {
                "unknown".to_owned()
            } else {
                s.device.address.clone()
            },
            started: crate::tokens::to_datetime(s.created)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            last_used: crate::templates::ago_in_words(s.last_seen, now),
            methods: methods_in_words(&s.amr),
            current: s.sid == current_sid,
        })
        .collect()
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET /Account/Sessions`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: PageQuery = parse_query(&req)?;
    let Some(session) = crate::signin::load_session(&state, &req).await? else {
        return super::mfa::not_signed_in(&state);
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return super::mfa::not_signed_in(&state);
    };
    let t = now();
    let timeouts = &state.settings.session;
    let listed = state
        .stores
        .sessions
        .list(
            &session.subject,
            t,
            timeouts.idle_timeout_secs,
            timeouts.absolute_timeout_secs,
        )
        .await?;
    let (notice, error) = match SessionsNotice::parse(&query.notice) {
        Some(SessionsNotice::Ended) => (Some("The session was signed out.".to_owned()), None),
        Some(SessionsNotice::NotFound) => (
            None,
            Some("No such session: it may have ended already.".to_owned()),
        ),
        None => (None, None),
    };
    let csrf = crate::csrf::issue(&state, &req);
    let page = SessionsPage {
        csrf_token: csrf.token,
        username: user.username,
        sessions: rows(&listed, &session.sid, t),
        max_sessions: crate::store::MAX_SESSIONS_PER_SUBJECT,
        notice,
        error,
    };
    // `render` marks the page `no-store`.
    render_page(
        &state,
        "account/sessions.html",
        &page,
        StatusCode::OK,
        csrf.cookie,
    )
}

/// `POST /Account/Sessions/End`: signs one of the user's sessions out.
pub async fn end(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: EndForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("end-session form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some(PATH.into()));
    }
    let Some(current) = crate::signin::load_session(&state, &req).await? else {
        return super::mfa::not_signed_in(&state);
    };
    if form.sid.is_empty() || form.sid.len() > MAX_SID_BYTES {
        return Ok(see_other(&SessionsNotice::NotFound.url()));
    }
    if form.sid == current.sid {
        // This browser's own session: a logout (its grants go with it).
        state
            .stores
            .grants
            .revoke_for_subject(&current.subject, Some(&current.sid))
            .await?;
        return crate::routes::endsession::logged_out(&state, &req, None).await;
    }
    // The grants first (a store failure then leaves the session listed, to try again). Only
    // the user's own grants are indexed under their subject: a `sid` of another user's
    // session revokes nothing.
    let revoked = state
        .stores
        .grants
        .revoke_for_subject(&current.subject, Some(&form.sid))
        .await?;
    let Some(ended) = state
        .stores
        .sessions
        .end(&current.subject, &form.sid)
        .await?
    else {
        // Unknown, ended already, or another user's: the same answer, no session ended.
        return Ok(see_other(&SessionsNotice::NotFound.url()));
    };
    crate::signin::send_logout(&state, &ended);
    tracing::info!(subject = %ended.subject, revoked, "a session was signed out from the list");
    Ok(see_other(&SessionsNotice::Ended.url()))
}

/// `POST /Account/Sessions/EndAll`: "sign out everywhere".
pub async fn end_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: CsrfForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("sign-out-everywhere form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some(PATH.into()));
    }
    let Some(current) = crate::signin::load_session(&state, &req).await? else {
        return super::mfa::not_signed_in(&state);
    };
    // The grants first: a store failure then leaves every session signed in to try again,
    // never a session without the revocation it asked for.
    let revoked = state
        .stores
        .grants
        .revoke_for_subject(&current.subject, None)
        .await?;
    let ended = state.stores.sessions.end_all(&current.subject).await?;
    for session in &ended {
        crate::signin::send_logout(&state, session);
    }
    tracing::info!(subject = %current.subject, sessions = ended.len(), revoked, "signed out everywhere");
    // This browser's session is gone with the others: the logged-out page, and its cookie.
    crate::routes::endsession::logged_out(&state, &req, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionDevice;

    fn session(sid: &str, created: i64, amr: &[&str]) -> Session {
        Session {
            sid: sid.into(),
            subject: "alice".into(),
            auth_time: created,
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            remember: false,
            created,
            last_seen: created + 60,
            step_up_at: None,
            clients: Vec::new(),
            device: SessionDevice {
                browser: "Firefox on Linux".into(),
                address: "203.0.113.7".into(),
            },
        }
    }

    #[test]
    fn methods_are_named_in_words_once_each() {
        let amr = |a: &[&str]| a.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            methods_in_words(&amr(&["pwd", "mfa", "otp"])),
            "password, one-time code"
        );
        assert_eq!(methods_in_words(&amr(&["pop", "swk", "mfa"])), "passkey");
        assert_eq!(methods_in_words(&amr(&["pwd"])), "password");
        assert_eq!(methods_in_words(&amr(&["<b>x</b>"])), "unknown");
    }

    #[test]
    fn rows_mark_the_current_session_and_say_what_is_unknown() {
        let t = 1_764_590_400; // 2025-12-01 12:00 UTC
        let mut old = session("old", t - 7200, &["pwd"]);
        old.device = SessionDevice::default();
        let current = session("current", t - 600, &["pwd", "mfa", "otp"]);
        let rows = rows(&[current, old], "current", t);
        assert!(rows[0].current && !rows[1].current);
        assert_eq!(rows[0].browser, "Firefox on Linux");
        assert_eq!(rows[0].address, "203.0.113.7");
        assert_eq!(rows[0].started, "2025-12-01 11:50 UTC");
        assert_eq!(rows[0].last_used, "9 minutes ago");
        assert_eq!(rows[0].methods, "password, one-time code");
        assert_eq!(
            (rows[1].browser.as_str(), rows[1].address.as_str()),
            ("Unknown browser", "unknown")
        );
    }

    #[test]
    fn the_page_renders_escaped_with_a_form_per_session_carrying_the_sid() {
        let tera = crate::templates::build(crate::account::templates()).unwrap();
        let t = 1_764_590_400;
        let mut other = session("other-sid", t - 7200, &["pwd"]);
        other.device.browser = "<script>alert(1)</script>".into();
        let page = SessionsPage {
            csrf_token: "csrf-1".into(),
            username: "alice".into(),
            sessions: rows(
                &[session("current-sid", t, &["pwd"]), other],
                "current-sid",
                t,
            ),
            max_sessions: 50,
            notice: None,
            error: Some("No such session: it may have ended already.".into()),
        };
        let html = tera
            .render(
                "account/sessions.html",
                &tera::Context::from_serialize(&page).unwrap(),
            )
            .unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(html.matches("action=\"/Account/Sessions/End\"").count(), 2);
        assert!(html.contains("name=\"sid\" value=\"other-sid\""));
        assert!(html.contains("name=\"sid\" value=\"current-sid\""));
        assert_eq!(html.matches("id=\"this-session\"").count(), 1);
        assert!(html.contains("action=\"/Account/Sessions/EndAll\""));
        assert!(html.contains("at most 50 sessions"));
        assert!(html.contains("id=\"error\""));
    }

    #[test]
    fn only_known_notices_are_parsed() {
        assert_eq!(SessionsNotice::parse("ended"), Some(SessionsNotice::Ended));
        assert_eq!(SessionsNotice::parse("<script>"), None);
        assert_eq!(
            SessionsNotice::NotFound.url(),
            "/Account/Sessions?notice=not_found"
        );
    }
}
