//! Which user claims the granted scopes release (OpenID Connect Core 5.4).

use serde_json::{Map, Value, json};

use crate::domain::User;

/// The claims of `user` that `scope` releases, `sub` included.
pub fn user_claims(user: &User, scope: &[String]) -> Map<String, Value> {
    let has = |s: &str| scope.iter().any(|g| g == s);
    let c = &user.claims;
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.subject));
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.insert(name.to_owned(), v);
        }
    };
    if has("profile") {
        put(
            "name",
            c.name
                .clone()
                .or_else(|| user.name.clone())
                .map(Value::from),
        );
        put("given_name", c.given_name.clone().map(Value::from));
        put("family_name", c.family_name.clone().map(Value::from));
        put("website", c.website.clone().map(Value::from));
        put(
            "preferred_username",
            Some(Value::from(user.username.clone())),
        );
    }
    if has("email") {
        put(
            "email",
            c.email
                .clone()
                .or_else(|| user.email.clone())
                .map(Value::from),
        );
        put("email_verified", c.email_verified.map(Value::from));
    }
    if has("address") {
        put(
            "address",
            c.address
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok()),
        );
    }
    if has("phone") {
        put("phone_number", c.phone_number.clone().map(Value::from));
        put(
            "phone_number_verified",
            c.phone_number_verified.map(Value::from),
        );
    }
    out
}

/// Every claim name this provider can release (for discovery).
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "sid",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "website",
    "preferred_username",
    "email",
    "email_verified",
    "address",
    "phone_number",
    "phone_number_verified",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        let settings = crate::configuration::Settings::default();
        let u = &settings.users[0];
        User {
            subject: u.subject.clone(),
            username: u.username.clone(),
            email: u.claims.email.clone(),
            name: u.claims.name.clone(),
            claims: u.claims.clone(),
        }
    }

    #[test]
    fn openid_alone_releases_only_sub() {
        let claims = user_claims(&alice(), &["openid".into()]);
        assert_eq!(claims.len(), 1);
        assert_eq!(claims["sub"], "a5a0c16c-0027-4011-8e2f-a7e179dc784b");
    }

    #[test]
    fn profile_releases_names_and_website_but_not_email() {
        let claims = user_claims(&alice(), &["openid".into(), "profile".into()]);
        assert_eq!(claims["name"], "Alice Smith");
        assert_eq!(claims["website"], "http://alice.example.com");
        assert!(!claims.contains_key("email"));
    }

    #[test]
    fn email_and_address_scopes_release_their_claims() {
        let claims = user_claims(
            &alice(),
            &["openid".into(), "email".into(), "address".into()],
        );
        assert_eq!(claims["email"], "AliceSmith@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["address"]["locality"], "Heidelberg");
    }
}
