//! The Server API under `/v1`: every endpoint the SDK calls, behind HTTP Basic auth with the
//! tenant secret as the user name (reference §1.2, §2).

pub mod actions;
pub mod auth;
pub mod authenticators;
pub mod challenges;
pub mod extract;
pub mod sessions;
pub mod users;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// Registers the `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(auth::require_secret))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .route("/validate", web::post().to(actions::validate))
            .route("/challenge", web::post().to(challenges::challenge))
            .route("/verify", web::post().to(challenges::verify))
            .route("/claim", web::post().to(challenges::claim))
            .route("/challenges", web::get().to(challenges::get_challenge))
            .route(
                "/challenges",
                web::post().to(challenges::get_challenge_post),
            )
            .route("/sessions", web::post().to(sessions::create))
            .route("/sessions/validate", web::post().to(sessions::validate))
            .route("/sessions/refresh", web::post().to(sessions::refresh))
            .route("/sessions/revoke", web::post().to(sessions::revoke))
            .route(
                "/sessions/user/revoke",
                web::post().to(sessions::revoke_user),
            )
            .route("/users", web::get().to(users::query))
            .route(
                "/users/authenticators",
                web::post().to(authenticators::batch_enroll),
            )
            .route("/users/{user_id}", web::get().to(users::get))
            .route("/users/{user_id}", web::patch().to(users::update))
            .route("/users/{user_id}", web::post().to(users::update))
            .route("/users/{user_id}", web::delete().to(users::delete))
            .route(
                "/users/{user_id}/authenticators",
                web::get().to(authenticators::list),
            )
            .route(
                "/users/{user_id}/authenticators",
                web::post().to(authenticators::enroll),
            )
            .route(
                "/users/{user_id}/authenticators/{authenticator_id}",
                web::delete().to(authenticators::delete),
            )
            .route("/users/{user_id}/actions", web::get().to(actions::query))
            .route(
                "/users/{user_id}/actions/{action}",
                web::post().to(actions::track),
            )
            .route(
                "/users/{user_id}/actions/{action}/{idempotency_key}",
                web::get().to(actions::get),
            )
            .route(
                "/users/{user_id}/actions/{action}/{idempotency_key}",
                web::patch().to(actions::update),
            )
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}
