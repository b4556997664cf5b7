//! HTTP endpoints, one module per endpoint; handlers are thin (parse -> one call -> response).

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod endsession;
pub mod home;
pub mod introspection;
pub mod revocation;
pub mod token;
pub mod userinfo;

use actix_web::http::header::{self, CONTENT_TYPE};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::error::{AppError, OAuthError};

/// Registers the provider's routes (the account pages register theirs separately). Each path is
/// one resource: a method it does not serve answers 405 with `Allow` (RFC 9110 15.5.6), and
/// every safe GET endpoint answers HEAD with the same status and headers and no body (RFC 9110
/// 9.3.2; actix-web sends no body for HEAD). The authorization endpoint has no HEAD: its GET
/// can issue a code.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_head("/", home::home))
        .service(get_head("/static/site.css", home::site_css))
        .service(get_head("/static/favicon.svg", home::favicon))
        .service(get_head("/static/passkey.js", home::passkey_js))
        .service(get_head(
            "/.well-known/openid-configuration",
            discovery::configuration,
        ))
        .service(get_head(
            "/.well-known/openid-configuration/jwks",
            discovery::jwks,
        ))
        .service(
            web::resource("/connect/authorize")
                .route(web::get().to(authorize::get))
                .route(web::post().to(authorize::post))
                .default_service(method_not_allowed("GET, POST")),
        )
        .service(post_only("/connect/token", token::token))
        .service(
            web::resource("/connect/userinfo")
                .route(web::get().to(userinfo::get))
                .route(web::head().to(userinfo::get))
                .route(web::post().to(userinfo::post))
                .default_service(method_not_allowed("GET, HEAD, POST")),
        )
        .service(post_only("/connect/revocation", revocation::revoke))
        .service(post_only("/connect/introspect", introspection::introspect))
        .service(
            web::resource("/connect/endsession")
                .route(web::get().to(endsession::get))
                .route(web::post().to(endsession::post))
                .default_service(method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/Account/Logout")
                .route(web::get().to(endsession::confirm_page))
                .route(web::post().to(endsession::logout))
                .default_service(method_not_allowed("GET, POST")),
        );
}

/// A path served by GET and HEAD alike.
fn get_head<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(method_not_allowed("GET, HEAD"))
}

/// A path served by POST only.
fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(method_not_allowed("POST"))
}

/// The answer to a method a path does not serve: 405 naming the methods it does.
pub(crate) fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .content_type("text/plain; charset=utf-8")
            .body("method not allowed")
    })
}

/// Content-Security-Policy of every page: own styles only, no scripts at all, no framing (the
/// two passkey pages replace it with [`passkey_csp`]). `form-action` is left out on purpose: browsers apply it to the
/// redirect after a login POST, which must reach the client's redirect URI.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; object-src 'none'";

/// Content-Security-Policy of the two pages that run the passkey script (the login page when it
/// offers a passkey, and the page that adds one): [`CSP`] plus our own script (`'self'`: only
/// `/static/passkey.js` exists; no inline script, no `eval`) and `fetch` to the Authsignal Client
/// API `origin` only.
pub fn passkey_csp(origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; connect-src {origin}; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
    )
}

/// Security headers on every response (a handler's own value wins, e.g. static caching).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Any unknown path.
pub async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&AppError::NotFound)
}

/// Why a form body was refused.
#[derive(Debug)]
pub enum FormError {
    /// Not `application/x-www-form-urlencoded`.
    ContentType,
    /// Over the configured limit.
    TooLarge,
    /// Unreadable or with repeated parameters.
    Malformed(String),
}

impl From<FormError> for OAuthError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::ContentType => {
                OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
            }
            FormError::TooLarge => OAuthError::invalid_request("the request body is too large")
                .with_status(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE),
            FormError::Malformed(m) => OAuthError::invalid_request(m),
        }
    }
}

impl From<FormError> for AppError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::ContentType => AppError::BadRequest("The form could not be read.".into()),
            FormError::TooLarge => AppError::BadRequest("The request is too large.".into()),
            FormError::Malformed(m) => {
                AppError::BadRequest(format!("The request is malformed: {m}."))
            }
        }
    }
}

/// Reads an `application/x-www-form-urlencoded` body of at most `limit` bytes into unique
/// parameters (see [`crate::oidc::parse_params`]).
pub async fn read_form(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<(String, String)>, FormError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(FormError::ContentType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(FormError::TooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| FormError::Malformed("the body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(FormError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    crate::oidc::parse_params(&body).map_err(FormError::Malformed)
}

/// The query string as unique parameters.
pub fn query_params(req: &HttpRequest) -> Result<Vec<(String, String)>, String> {
    crate::oidc::parse_params(req.query_string().as_bytes())
}

/// A JSON response that must not be cached (token-side endpoints).
pub fn no_store_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}
