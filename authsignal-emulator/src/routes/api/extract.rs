//! Request extraction that answers bad input in the service's error shape: JSON bodies (any
//! content type, empty body = `{}`, size-limited) and query strings.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body parsed into `T`, or a 400/413 in the service's shape. The body limit is the
/// app's `PayloadConfig` (`max_body_bytes`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.max_body_bytes)
            .unwrap_or(64 * 1024);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes
                .await
                .map_err(|e| match e.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(limit),
                    _ => ApiError::invalid("cannot read the request body"),
                })?;
            parse_json(&body).map(ApiJson)
        })
    }
}

/// Parses a JSON body; an empty body counts as `{}` (the SDKs send `{}` or nothing for
/// requests whose fields are all optional).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(|b| b.is_ascii_whitespace()) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid json body: {e}")))
}

/// Query strings that fail to parse answer 400 in the service's shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::invalid(format!("invalid query: {e}")).into())
}

/// Path segments that fail to parse answer 400 in the service's shape.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|e, _| ApiError::invalid(format!("invalid path: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[allow(dead_code)]
        a: Option<u32>,
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        assert!(parse_json::<Body>(b"").is_ok());
        assert!(parse_json::<Body>(b"  \n").is_ok());
    }

    #[test]
    fn malformed_json_is_an_invalid_request() {
        let err = parse_json::<Body>(b"{nope").unwrap_err();
        assert!(matches!(err, ApiError::InvalidRequest(_)));
        assert!(err.to_string().starts_with("invalid json body"));
    }
}
