//! The Client API subset for passkeys under `/v1/client`: what the official Web SDK
//! (`@authsignal/browser`) calls for `passkey.signUp` and `passkey.signIn`, with the tenant id
//! (Basic) or a track/access token (Bearer) instead of the secret. Registered before the
//! secret-protected `/v1` scope, which would otherwise claim these paths.
//!
//! CORS: only the configured expected origins get CORS headers (`Access-Control-Allow-Origin`
//! echoing the origin, `Vary: Origin`, no credentials: the SDK sends no cookies). A preflight
//! from another origin is answered 403 without them, and so is any request whose `Origin` is
//! not expected (browsers would not show those answers to the page anyway; refusing them keeps
//! other sites from driving the API at all). Requests without `Origin` (servers, tests) pass.
//! The `/web` (cookie) variants are not offered: they answer 404.

pub mod auth;
pub mod passkeys;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Methods the Client API answers.
pub const ALLOWED_METHODS: &str = "GET, POST";
/// Request headers the Web SDK sends.
pub const ALLOWED_HEADERS: &str = "authorization, content-type";
/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE: &str = "600";

/// Registers the `/v1/client` scope (call before the `/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/client")
            .wrap(from_fn(cors))
            .app_data(super::api::extract::query_config())
            .route("/challenge", web::post().to(passkeys::challenge))
            .route(
                "/user-authenticators/passkey/registration-options",
                web::post().to(passkeys::registration_options),
            )
            .route(
                "/user-authenticators/passkey",
                web::post().to(passkeys::add_authenticator),
            )
            .route(
                "/user-authenticators/passkey",
                web::get().to(passkeys::get_passkey_authenticator),
            )
            .route(
                "/user-authenticators/passkey/authentication-options",
                web::post().to(passkeys::authentication_options),
            )
            .route("/verify/passkey", web::post().to(passkeys::verify))
            .route(
                "/user-authenticators",
                web::get().to(passkeys::list_authenticators),
            )
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such client api endpoint".into()))
}

/// The CORS decision for a request's `Origin` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginDecision {
    /// No `Origin`: not a browser's cross-origin request.
    Absent,
    /// An expected origin: echo it.
    Allowed(String),
    /// Any other origin.
    Refused(String),
}

/// Decides on an `Origin` value against the expected origins (exact match).
pub fn decide(origin: Option<&str>, state: &AppState) -> OriginDecision {
    match origin {
        None => OriginDecision::Absent,
        Some(origin) if state.relying_party.is_expected_origin(origin) => {
            OriginDecision::Allowed(origin.to_owned())
        }
        Some(origin) => OriginDecision::Refused(crate::domain::action_code::truncate(origin)),
    }
}

fn vary_origin(response: &mut HttpResponse) {
    response
        .headers_mut()
        .append(header::VARY, header::HeaderValue::from_static("Origin"));
}

/// The CORS middleware of the scope.
async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal("no application state".into()).into());
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
    let decision = decide(origin.as_deref(), &state);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let OriginDecision::Refused(origin) = &decision {
        let mut response = actix_web::ResponseError::error_response(&ApiError::Forbidden(format!(
            "origin '{origin}' is not an expected origin"
        )));
        vary_origin(&mut response);
        return Ok(req.into_response(response).map_into_right_body());
    }
    if preflight {
        let mut response = HttpResponse::NoContent();
        if let OriginDecision::Allowed(origin) = &decision {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
        }
        let mut response = response.finish();
        vary_origin(&mut response);
        return Ok(req.into_response(response).map_into_right_body());
    }
    // Handler and extractor errors arrive here as responses (so they get the headers too);
    // an `Err` could only come from inner middleware, of which there is none.
    let mut response = next.call(req).await?.map_into_left_body();
    let headers = response.headers_mut();
    if let OriginDecision::Allowed(origin) = decision
        && let Ok(value) = header::HeaderValue::from_str(&origin)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.append(header::VARY, header::HeaderValue::from_static("Origin"));
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
