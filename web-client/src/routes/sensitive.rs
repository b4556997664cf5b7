//! `GET /sensitive`: a page that needs a second factor at most `sensitive_max_age_secs` old
//! (default 300 s). When the signed-in user's ID token says less (an `acr` below
//! `urn:authsignal-mfa-rust:acr:mfa`, or an `auth_time` older than that), the page starts a
//! sign-in with `acr_values` mfa and `max_age`: the identity server steps the signed-in user up
//! with a fresh Authsignal challenge, and the browser comes back here. The local session stays
//! signed in meanwhile, so a refused step-up leaves it as it was. On return the ID token's `acr`
//! and `auth_time` have been checked ([`crate::acr::check`]) and the page shows them.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Serialize;

use super::{AppState, Gate, require_user, see_other};
use crate::acr;
use crate::error::AppError;
use crate::oidc::Requirement;
use crate::session::WebSession;
use crate::store::SignedIn;

/// The page's path (also where the step-up comes back to).
pub const PATH: &str = "/sensitive";

/// `sensitive.html`.
#[derive(Debug, Serialize)]
pub struct SensitivePage {
    /// The issuer (footer).
    pub issuer: String,
    /// How recent the second factor must be, in words ("5 minutes").
    pub max_age: String,
    /// `acr`, `amr`, `auth_time` and its age.
    pub rows: Vec<Field>,
}

/// One row of the page's table, with a stable element id.
#[derive(Debug, Serialize)]
pub struct Field {
    /// The element id of the value (`auth-acr`, ...).
    pub id: &'static str,
    /// Left column.
    pub name: &'static str,
    /// Right column (rendered escaped, inside `<code>`).
    pub value: String,
}

/// The sensitive page, or the step-up that leads back to it.
pub async fn get(state: web::Data<AppState>, session: Session) -> HttpResponse {
    let mut response = state.respond(handle(&state, &WebSession(&session)).await);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// What this page asks of the authentication.
fn requirement(state: &AppState) -> Requirement {
    Requirement {
        acr: acr::MFA.to_owned(),
        max_age: state.sensitive_max_age_secs,
    }
}

async fn handle(state: &AppState, session: &WebSession<'_>) -> Result<HttpResponse, AppError> {
    let signed_in = match require_user(state, session, PATH).await? {
        Gate::User(_, signed_in) => signed_in,
        Gate::SignIn(redirect) => return Ok(redirect),
    };
    let now = Utc::now().timestamp();
    let required = requirement(state);
    if let Err(unmet) = acr::check(
        &signed_in.claims,
        Some(&required.acr),
        Some(required.max_age),
        now,
    ) {
        tracing::info!(reason = %unmet, "the sensitive page needs a step-up");
        let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
        let (url, pending) = provider.begin_sign_in_requiring(PATH, Some(&required));
        session.set_pending(&pending).map_err(AppError::Internal)?;
        return Ok(see_other(url.as_str()));
    }
    state.page(
        "sensitive.html",
        &SensitivePage {
            issuer: state.urls.issuer_url.clone(),
            max_age: in_words(required.max_age),
            rows: rows(&signed_in, now),
        },
    )
}

/// `300` -> "5 minutes", `90` -> "90 seconds".
fn in_words(secs: i64) -> String {
    match secs {
        60 => "1 minute".into(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

/// The authentication the ID token proves.
fn rows(signed_in: &SignedIn, now: i64) -> Vec<Field> {
    let claim = |name: &str| signed_in.claims.get(name);
    let row = |id: &'static str, name: &'static str, value: String| Field { id, name, value };
    let amr = match claim("amr") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "(not in the ID token)".into(),
    };
    let auth_time = claim("auth_time").and_then(serde_json::Value::as_i64);
    let when = auth_time
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || "(not in the ID token)".into(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
    let age = auth_time.map_or_else(
        || "unknown".into(),
        |t| format!("{} s", now.saturating_sub(t).max(0)),
    );
    vec![
        row(
            "auth-acr",
            "acr",
            claim("acr")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("(not in the ID token)")
                .to_owned(),
        ),
        row("auth-amr", "amr", amr),
        row("auth-time", "auth_time", when),
        row("auth-age", "age of the authentication", age),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freshness_reads_as_words() {
        assert_eq!(in_words(300), "5 minutes");
        assert_eq!(in_words(60), "1 minute");
        assert_eq!(in_words(5), "5 seconds");
    }
}
