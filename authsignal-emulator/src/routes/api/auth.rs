//! HTTP Basic authentication of the Server API: `Authorization: Basic base64("<secret>:")`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;
use crate::state::AppState;

/// Refuses requests without the tenant secret (401 with the service's body). The password part
/// is ignored, as it is empty in every SDK. Comparison is constant-time. The refusal is an
/// answer, not an error, so that the security headers middleware outside sees it.
pub async fn require_secret(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic_user);
    match (state, presented) {
        (Some(state), Some(user)) if state.secret.matches(user.as_bytes()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        _ => Ok(req.error_response(ApiError::Unauthorized)),
    }
}

/// The user name of a Basic `Authorization` header value.
pub fn parse_basic_user(value: &str) -> Option<String> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(user, _)| user);
    Some(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_name_is_read_from_a_basic_header() {
        let header = format!("Basic {}", STANDARD.encode("secret-key:"));
        assert_eq!(parse_basic_user(&header).as_deref(), Some("secret-key"));
        let header = format!("basic {}", STANDARD.encode("k:pw"));
        assert_eq!(parse_basic_user(&header).as_deref(), Some("k"));
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        assert_eq!(parse_basic_user("Bearer abc"), None);
        assert_eq!(parse_basic_user("Basic !!!"), None);
        assert_eq!(parse_basic_user("Basic"), None);
    }
}
