//! `GET /healthz` (the process answers) and `GET /readyz` (discovery has succeeded and the
//! session store answers, so sign-in works): for the demo's start-up wait, container health
//! checks and a load balancer that drains a replica which lost its Redis.

use actix_web::{HttpResponse, web};

use super::AppState;

/// Always 200 while the server runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 once the identity server has been discovered and while the session store answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let unavailable = |why: &'static str| {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(why)
    };
    if state.provider.get().is_none() {
        return unavailable("waiting for identity server discovery");
    }
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the session store does not answer");
            unavailable("the session store does not answer")
        }
    }
}
