//! `GET/POST /Account/Create`: a new account (username, password, name, email).
//!
//! The account gets no session here: the user is sent to the login page, where the first login
//! enrolls a second factor like any other (there is no way around it). Password rules are in
//! [`super::password_policy`]. Attempts with a taken username count against the client address
//! like failed logins, which slows down probing for usernames. The password's Argon2id hash runs
//! within the server's bound on concurrent hashing ([`run_limited`]); when no permit comes free in
//! time the form comes back with 503 "busy" and nothing is created or counted. Every valid
//! submission first takes a slot of the creation quota ([`super::throttle`]: per client network
//! and globally, per hour), counted before the hash; without one the form comes back with 429
//! and `Retry-After`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::lockout::record_failure;
use super::login::BUSY_RETRY_AFTER_SECS;
use super::pages::{
    CreatePage, FieldErrors, LoginNotice, NoticePage, client_key, csrf_failure, login_url, notice,
    parse_form, parse_query, render_page,
};
use super::password_policy::{MAX_CHARS, MIN_CHARS, RECOMMENDED_CHARS};
use super::throttle::Refused;
use crate::domain::{NewUser, Secret};
use crate::error::AppError;
use crate::hashing::{BUSY_MESSAGE, run_limited};
use crate::state::AppState;
use crate::users::CreateUserError;

#[derive(Deserialize)]
struct CreateQuery {
    #[serde(default)]
    ar: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateForm {
    ar: String,
    csrf_token: String,
    username: String,
    password: String,
    name: String,
    email: String,
}

/// A validated new account.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidAccount {
    /// Username (trimmed).
    pub username: String,
    /// Display name (trimmed).
    pub name: String,
    /// Email address (trimmed).
    pub email: String,
}

/// Checks a username: 3 to 64 characters out of letters, digits and `.`, `_`, `-`, `@`.
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let valid_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !(3..=64).contains(&username.chars().count()) || !valid_chars {
        return Err("Choose a username of 3 to 64 characters: letters, digits and . _ - @ only.");
    }
    Ok(())
}

/// Checks a display name: 1 to 100 characters, no control characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
        return Err("Enter your name (up to 100 characters).");
    }
    Ok(())
}

/// Checks an email address for a plausible shape (`local@domain.tld`, at most 254 characters).
/// Whether it is deliverable is for the email second factor to find out.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    const MESSAGE: &str = "Enter a valid email address, like name@example.com.";
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(MESSAGE);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(MESSAGE);
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(MESSAGE);
    }
    Ok(())
}

/// `GET /Account/Create[?ar=<id>]`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: CreateQuery = parse_query(&req)?;
    let ar = live_ar(&state, &query.ar).await;
    page(
        &state,
        &req,
        &CreateForm {
            ar,
            ..Default::default()
        },
        Vec::new(),
        FieldErrors::default(),
        StatusCode::OK,
    )
}

/// `ar` if it names a pending authorize request, else empty (the page works without one).
async fn live_ar(state: &AppState, ar: &str) -> String {
    if ar.is_empty() || ar.len() > 128 {
        return String::new();
    }
    match crate::signin::pending_request(state, ar).await {
        Ok(Some(_)) => ar.to_owned(),
        Ok(None) | Err(_) => String::new(),
    }
}

fn page(
    state: &AppState,
    req: &HttpRequest,
    form: &CreateForm,
    errors: Vec<String>,
    field_errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let csrf = crate::csrf::issue(state, req);
    let context = CreatePage {
        ar: form.ar.clone(),
        csrf_token: csrf.token,
        username: form.username.trim().chars().take(64).collect(),
        name: form.name.trim().chars().take(100).collect(),
        email: form.email.trim().chars().take(254).collect(),
        errors,
        focus: field_errors.first().unwrap_or("username"),
        field_errors,
        min_password: MIN_CHARS,
        recommended_password: RECOMMENDED_CHARS,
        max_password: MAX_CHARS,
        back_url: (!form.ar.is_empty()).then(|| login_url(&form.ar, None)),
    };
    render_page(state, "account/create.html", &context, status, csrf.cookie)
}

/// Every problem of a submission, each at its field.
fn validate(state: &AppState, form: &CreateForm) -> Result<ValidAccount, FieldErrors> {
    let username = form.username.trim();
    let name = form.name.trim();
    let email = form.email.trim();
    let errors = FieldErrors {
        username: check_username(username).err().map(str::to_owned),
        password: state
            .account
            .password_policy
            .check(username, &form.password)
            .err()
            .map(|e| e.to_string()),
        name: check_name(name).err().map(str::to_owned),
        email: check_email(email).err().map(str::to_owned),
    };
    if !errors.any() {
        Ok(ValidAccount {
            username: username.to_owned(),
            name: name.to_owned(),
            email: email.to_owned(),
        })
    } else {
        Err(errors)
    }
}

/// `POST /Account/Create`.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let mut form: CreateForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("account creation rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some("/Account/Create".into()));
    }
    form.ar = live_ar(&state, &form.ar).await;
    let ip_key = client_key(&req);
    let failed = &state.account.failed_logins;
    if failed.is_locked(&ip_key).await? {
        return page(
            &state,
            &req,
            &form,
            vec![format!(
                "Too many attempts from your network. Please wait {} and try again.",
                crate::templates::duration_in_words(state.account.settings.lockout.lockout_secs)
            )],
            FieldErrors::default(),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let account = match validate(&state, &form) {
        Ok(account) => account,
        Err(errors) => {
            return page(
                &state,
                &req,
                &form,
                Vec::new(),
                errors,
                StatusCode::BAD_REQUEST,
            );
        }
    };

    // Counted before the hash, for the network and globally at once (review finding 5).
    let creation = &state.account.settings.creation;
    let quotas = state.account.quotas.as_ref();
    if let Err(refused) = super::throttle::reserve(quotas, creation, &ip_key).await? {
        let message = match refused {
            Refused::Network { .. } => {
                tracing::warn!(client = ?ip_key, "account creation refused: network quota used up");
                "Too many accounts were created from your network. Please try again later."
            }
            Refused::Global { .. } => {
                tracing::warn!("account creation refused: global quota used up");
                "Too many accounts are being created right now. Please try again later."
            }
        };
        let mut response = page(
            &state,
            &req,
            &form,
            vec![message.into()],
            FieldErrors::default(),
            StatusCode::TOO_MANY_REQUESTS,
        )?;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(refused.retry_after_secs()),
        );
        return Ok(response);
    }

    let taken = |form: &CreateForm| {
        page(
            &state,
            &req,
            form,
            Vec::new(),
            FieldErrors {
                username: Some("This username is taken. Choose another one.".into()),
                ..Default::default()
            },
            StatusCode::CONFLICT,
        )
    };
    // A taken name is refused before the hash (its slot stays used: the request cost a lookup
    // and counts as a failure of the address, which limits enumeration).
    if state
        .users
        .find_by_username(&account.username)
        .await?
        .is_some()
    {
        record_failure(
            failed.as_ref(),
            &state.account.settings.lockout,
            std::slice::from_ref(&ip_key),
        )
        .await?;
        return taken(&form);
    }
    let new_user = NewUser {
        username: account.username.clone(),
        password: Secret::new(std::mem::take(&mut form.password)),
        name: Some(account.name.clone()),
        email: Some(account.email.clone()),
    };
    let Ok(hashed) = run_limited(&state, move |memory| {
        crate::users::hash_new_user(memory, new_user)
    })
    .await
    else {
        // No hashing permit in time: nothing was created and nothing counts against the client.
        super::throttle::give_back(quotas, creation, &ip_key).await?;
        tracing::warn!("account not created: the server is busy");
        let mut response = page(
            &state,
            &req,
            &form,
            vec![BUSY_MESSAGE.into()],
            FieldErrors::default(),
            StatusCode::SERVICE_UNAVAILABLE,
        )?;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
        );
        return Ok(response);
    };
    let created = match hashed {
        Ok(stored) => state.users.create(stored).await,
        Err(e) => Err(e),
    };
    let user = match created {
        Ok(user) => user,
        Err(CreateUserError::UsernameTaken) => {
            record_failure(
                failed.as_ref(),
                &state.account.settings.lockout,
                std::slice::from_ref(&ip_key),
            )
            .await?;
            return taken(&form);
        }
        Err(CreateUserError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(AppError::internal(e)),
    };
    tracing::info!(subject = %user.subject, "account created");

    if form.ar.is_empty() {
        let (url, text) = crate::templates::start_again(&state.clients);
        return notice(
            &state,
            StatusCode::OK,
            &NoticePage {
                title: "Account created".into(),
                message: "Your account was created. Go back to the application and sign in; you will set up your second factor on your first login.".into(),
                is_error: false,
                reference: None,
                link_url: Some(url),
                link_text: text.replace("Start again at", "Sign in at"),
            },
        );
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            login_url(&form.ar, Some(LoginNotice::Created)),
        ))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_of_three_to_64_safe_characters_are_accepted() {
        for ok in ["bob", "carol.smith", "c_d-e@x", &"a".repeat(64)] {
            assert_eq!(check_username(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "has space",
            "semi;colon",
            "émile",
            &"a".repeat(65),
        ] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_be_present_short_and_printable() {
        assert_eq!(check_name("Carol Smith"), Ok(()));
        assert_eq!(check_name("Zoë Ñúñez"), Ok(()));
        assert!(check_name("").is_err());
        assert!(check_name("a\u{0}b").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn email_addresses_need_a_plausible_shape() {
        for ok in ["carol@example.com", "a.b+tag@sub.example.org"] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "carol",
            "carol@",
            "@example.com",
            "carol@localhost",
            "carol@example..com",
            "carol@.example.com",
            "carol@example.com.",
            "ca rol@example.com",
            "a@b@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(check_email(&long_local).is_err());
    }
}
