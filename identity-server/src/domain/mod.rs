//! Domain types: users and their claims, registered clients, secrets, scopes.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// A secret string (password, client secret, token, key): redacted `Debug`, constant-time `==`.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is needed (hashing, signing, the wire).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

/// Postal address claim (OpenID Connect Core 5.1.1).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Profile claims of a user, released according to the granted scopes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct UserClaims {
    /// Full name (`profile`).
    pub name: Option<String>,
    /// Given name (`profile`).
    pub given_name: Option<String>,
    /// Family name (`profile`).
    pub family_name: Option<String>,
    /// Web site (`profile`).
    pub website: Option<String>,
    /// Email address (`email`).
    pub email: Option<String>,
    /// Whether the email address was verified (`email`).
    pub email_verified: Option<bool>,
    /// Postal address (`address`).
    pub address: Option<Address>,
    /// Phone number (`phone`).
    pub phone_number: Option<String>,
    /// Whether the phone number was verified (`phone`).
    pub phone_number_verified: Option<bool>,
}

/// A user account (from configuration or created through `/Account/Create`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct User {
    /// Stable subject identifier (`sub`).
    pub subject: String,
    /// Login name.
    pub username: String,
    /// Email address (also in `claims.email`).
    pub email: Option<String>,
    /// Display name (also in `claims.name`).
    pub name: Option<String>,
    /// All profile claims.
    pub claims: UserClaims,
}

/// What `/Account/Create` hands to [`crate::store::UserStore::create`].
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name (unique, compared case-insensitively).
    pub username: String,
    /// The chosen password (hashed with Argon2id before it is stored).
    pub password: Secret,
    /// Display name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// The grant types this provider implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code`.
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials`.
    ClientCredentials,
}

impl GrantType {
    /// Parses the wire name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// A registered client, ready for use at run time.
#[derive(Clone, Debug)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// Display name.
    pub client_name: String,
    /// Argon2id PHC hash of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// PKCE required (always true for public clients).
    pub require_pkce: bool,
    /// Home page of the client.
    pub client_uri: Option<String>,
    /// Back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
}

impl Client {
    /// A client without a secret.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether every scope in `requested` is allowed for the client.
    pub fn allows_scopes(&self, requested: &[String]) -> bool {
        requested.iter().all(|s| self.scopes.contains(s))
    }
}

impl From<&crate::configuration::ClientConfig> for Client {
    fn from(c: &crate::configuration::ClientConfig) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_name: c.client_name.clone().unwrap_or_else(|| c.client_id.clone()),
            secret_hash: c.secret_hash.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c
                .grant_types
                .iter()
                .filter_map(|g| GrantType::parse(g))
                .collect(),
            scopes: c.scopes.clone(),
            require_pkce: c.require_pkce || c.secret_hash.is_none(),
            client_uri: c.client_uri.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        }
    }
}

/// Identity scopes that this provider knows and that release user claims.
pub const IDENTITY_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Splits a space-delimited scope string (RFC 6749 3.3), dropping repeats, keeping order.
pub fn parse_scope(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in value.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// A scope token is `NQCHAR` (RFC 6749 A.4): printable ASCII except space, `"` and `\`.
pub fn is_valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_never_shows_the_value() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret([redacted])"
        );
    }

    #[test]
    fn parse_scope_drops_repeats_and_empty_parts() {
        assert_eq!(
            parse_scope("openid  profile openid"),
            vec!["openid", "profile"]
        );
    }

    #[test]
    fn scope_tokens_refuse_quotes_and_backslashes() {
        assert!(is_valid_scope_token("api1"));
        assert!(!is_valid_scope_token("a\"b"));
        assert!(!is_valid_scope_token("a\\b"));
    }
}
