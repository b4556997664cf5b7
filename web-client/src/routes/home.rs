//! `GET /`: the claims page of the guide's example; signs the user in first when needed.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{AppState, Gate, require_user};
use crate::error::AppError;
use crate::session::WebSession;
use crate::store::SignedIn;
use crate::templates::{HomePage, Row, claim_rows};

/// The claims and token properties of the signed-in user.
pub async fn get(state: web::Data<AppState>, session: Session) -> HttpResponse {
    state.respond(handle(&state, &WebSession(&session)).await)
}

async fn handle(state: &AppState, session: &WebSession<'_>) -> Result<HttpResponse, AppError> {
    let signed_in = match require_user(state, session, "/").await? {
        Gate::User(_, signed_in) => signed_in,
        Gate::SignIn(redirect) => return Ok(redirect),
    };
    let csrf = session.csrf_token().map_err(AppError::Internal)?;
    let display_name = signed_in
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(&signed_in.subject)
        .to_owned();
    state.page(
        "home.html",
        &HomePage {
            issuer: state.urls.issuer_url.clone(),
            display_name,
            claims: claim_rows(&signed_in.claims),
            properties: properties(&signed_in),
            csrf,
        },
    )
}

/// The token properties shown under the claims, like the guide's example page.
fn properties(s: &SignedIn) -> Vec<Row> {
    let now = Utc::now();
    let row = |name: &str, value: String| Row {
        name: name.into(),
        value,
    };
    let date = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let claim = |name: &str| match s.claims.get(name) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(" "),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(date)
            .unwrap_or_else(|| n.to_string()),
        Some(other) => other.to_string(),
        None => "(not in the ID token)".into(),
    };
    let access_expiry = match s.access_token_expires_at {
        Some(t) if t > now => format!("{} (in {} s)", date(t), (t - now).num_seconds()),
        Some(t) => format!("{} (expired)", date(t)),
        None => "(not given by the identity server)".into(),
    };
    vec![
        row("amr", claim("amr")),
        row("auth_time", claim("auth_time")),
        row("scopes", s.scopes.join(" ")),
        row("access token expires", access_expiry),
        row("ID token expires", claim("exp")),
        row(
            "refresh token",
            if s.refresh_token.is_some() {
                "present"
            } else {
                "none"
            }
            .into(),
        ),
        row("refreshes in this session", s.refresh_count.to_string()),
        row("session started", date(s.created_at)),
        row("session ends", date(s.expires_at)),
    ]
}
