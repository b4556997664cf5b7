//! `GET /Account/Notice?reason=`: the page a callback redirects to when it cannot continue a
//! sign-in (so that the callback itself never renders a page while its URL holds a token).
//! The reason is one of a fixed set; no text from the URL reaches the page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::pages::{NoticePage, notice, parse_query};
use crate::error::AppError;
use crate::state::AppState;

/// Why a second-factor step could not continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeReason {
    /// No live login transaction in this browser: used already, expired, started elsewhere, or
    /// no password step at all.
    Expired,
    /// The challenge before the MFA settings was not completed.
    MfaSettings,
    /// A login's challenge was passed in a browser that did not do its password step, and
    /// the login was stopped ([`super::callback`]).
    StartedElsewhere,
}

impl NoticeReason {
    /// The value in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::MfaSettings => "mfa_settings",
            Self::StartedElsewhere => "started_elsewhere",
        }
    }

    /// `/Account/Notice?reason=<code>`.
    pub fn url(self) -> String {
        format!("/Account/Notice?reason={}", self.code())
    }

    fn parse(code: &str) -> Option<Self> {
        [Self::Expired, Self::MfaSettings, Self::StartedElsewhere]
            .into_iter()
            .find(|r| r.code() == code)
    }

    fn page(self, state: &AppState) -> NoticePage {
        match self {
            Self::Expired => {
                let (url, text) = crate::templates::start_again(&state.clients);
                NoticePage {
                    title: "Sign-in not completed".into(),
                    message: "This sign-in took too long, was already finished, or was started in another browser, so it cannot go on. You are not signed in. Start again from the application.".into(),
                    is_error: true,
                    reference: None,
                    link_url: Some(url),
                    link_text: text,
                }
            }
            Self::MfaSettings => NoticePage {
                title: "Security settings not opened".into(),
                message: "The second factor was not confirmed, so your security settings were not opened. Nothing was changed.".into(),
                is_error: true,
                reference: None,
                link_url: Some(super::mfa::PAGE_PATH.into()),
                link_text: "Back to two-step verification".into(),
            },
            Self::StartedElsewhere => {
                let (url, text) = crate::templates::start_again(&state.clients);
                NoticePage {
                    title: "Sign-in stopped".into(),
                    message: "This sign-in was started in another browser, so it was stopped. If you did not start it, someone may know your password: change it. You are not signed in.".into(),
                    is_error: true,
                    reference: None,
                    link_url: Some(url),
                    link_text: text,
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    #[serde(default)]
    reason: String,
}

/// `GET /Account/Notice?reason=`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: NoticeQuery = parse_query(&req)?;
    let reason = NoticeReason::parse(&query.reason).ok_or(AppError::NotFound)?;
    notice(&state, StatusCode::BAD_REQUEST, &reason.page(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_unknown_ones_are_refused() {
        for r in [
            NoticeReason::Expired,
            NoticeReason::MfaSettings,
            NoticeReason::StartedElsewhere,
        ] {
            assert_eq!(NoticeReason::parse(r.code()), Some(r));
        }
        assert_eq!(NoticeReason::parse("<b>hi</b>"), None);
        assert_eq!(
            NoticeReason::Expired.url(),
            "/Account/Notice?reason=expired"
        );
    }
}
