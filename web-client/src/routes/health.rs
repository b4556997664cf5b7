//! `GET /healthz` (the process answers) and `GET /readyz` (discovery has succeeded, so
//! sign-in works): for the demo's start-up wait and for container health checks.

use actix_web::{HttpResponse, web};

use super::AppState;

/// Always 200 while the server runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 once the identity server has been discovered, 503 before.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.provider.get().is_some() {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("waiting for identity server discovery")
    }
}
