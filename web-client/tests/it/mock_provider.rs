//! A small OpenID Connect provider for the tests, over HTTPS with the test CA: discovery, JWKS,
//! authorize (answers at once for alice), token (code + PKCE, refresh), userinfo and
//! end-session. [`Behaviour`] makes it misbehave in the ways the web client must refuse.
//! ID tokens carry a fresh `sid` per code grant (recorded), and [`sign_jwt`] signs logout
//! tokens with the provider's keys.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use chrono::Utc;
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseType, CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthUrl, AuthenticationContextClass,
    AuthenticationMethodReference, EmptyAdditionalProviderMetadata, EndSessionUrl, EndUserEmail,
    EndUserName, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, LocalizedClaim, LogoutProviderMetadata,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, PrivateSigningKey, ProviderMetadataWithLogout,
    ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl, UserInfoUrl,
};
use rsa::pkcs1::EncodeRsaPrivateKey;

pub const ALICE_SUB: &str = "a5a0c16c-0027-4011-8e2f-a7e179dc784b";

/// The `sid` claim the identity server adds to its ID tokens.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct SidClaim {
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

impl AdditionalClaims for SidClaim {}

type IdToken = openidconnect::IdToken<
    SidClaim,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type IdTokenClaims = openidconnect::IdTokenClaims<SidClaim, CoreGenderClaim>;

/// Which key signs a JWT made by [`sign_jwt`].
#[derive(Clone, Copy, Debug)]
pub enum Key {
    /// The published `key-1`.
    Published,
    /// A key that is not published, under the published kid `key-1` (a forgery).
    Unpublished,
    /// `key-2`, published only with [`Behaviour::rotated_to_second_key`].
    Second,
}

/// A compact JWS of `header` and `claims`, RS256-signed with `key` (the header is taken as
/// given, so tests can lie in it).
pub fn sign_jwt(header: &serde_json::Value, claims: &serde_json::Value, key: Key) -> String {
    use openidconnect::PrivateSigningKey;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let key = match key {
        Key::Published => signing_key(false, "key-1"),
        Key::Unpublished => signing_key(true, "key-1"),
        Key::Second => signing_key(true, "key-2"),
    };
    let signature = key
        .sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            input.as_bytes(),
        )
        .unwrap();
    format!("{input}.{}", b64(&signature))
}

/// The provider's signing key and a second key it does not publish; generated once per test
/// process (RSA generation is the slow part of these tests).
fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || {
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
            key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                .unwrap()
                .to_string()
        };
        (make(), make())
    })
}

fn signing_key(second: bool, kid: &str) -> CoreRsaPrivateSigningKey {
    let (first_pem, second_pem) = keys();
    let pem = if second { second_pem } else { first_pem };
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

/// Ways the provider can misbehave (all off by default).
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Authorize answers `error=<this>` instead of a code.
    pub authorize_error: Option<String>,
    /// ID tokens carry this nonce instead of the one sent.
    pub nonce_override: Option<String>,
    /// ID tokens are issued to this audience instead of the client.
    pub audience_override: Option<String>,
    /// ID tokens are signed with a key that is not in the JWKS (but names the published kid).
    pub sign_with_unpublished_key: bool,
    /// A second key `key-2` is published in the JWKS and signs the ID tokens (a rotation).
    pub rotated_to_second_key: bool,
    /// ID tokens carry an `at_hash` of another access token.
    pub wrong_at_hash: bool,
    /// `expires_in` of the access tokens from the code exchange (refreshes get 3600).
    pub code_expires_in: Option<u64>,
    /// The refresh grant answers `invalid_grant`.
    pub refuse_refresh: bool,
    /// The refresh grant issues a new ID token (the identity server's default is not to).
    pub id_token_on_refresh: bool,
    /// Userinfo answers 401 to every access token.
    pub userinfo_unauthorized: bool,
    /// Every token answer waits this long first (to make concurrent refreshes overlap).
    pub token_delay_ms: u64,
    /// ID tokens carry no `sid`.
    pub no_sid: bool,
    /// The `acr` of the ID tokens (none by default).
    pub acr: Option<String>,
}

#[derive(Debug)]
struct Grant {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

/// What the provider saw, for assertions.
#[derive(Debug, Default)]
pub struct Record {
    /// Token requests (form fields), in order.
    pub token_requests: Vec<HashMap<String, String>>,
    /// ID tokens issued, in order.
    pub id_tokens: Vec<String>,
    /// Access tokens issued, in order.
    pub access_tokens: Vec<String>,
    /// Userinfo calls (the bearer token).
    pub userinfo_tokens: Vec<String>,
    /// The `sid` of every code grant, in order.
    pub sids: Vec<String>,
    /// How often the JWKS was fetched.
    pub jwks_requests: usize,
}

#[derive(Debug, Default)]
struct State {
    behaviour: Behaviour,
    grants: HashMap<String, Grant>,
    refresh_tokens: Vec<String>,
    /// Access tokens the provider no longer accepts (as after a restart that lost them).
    forgotten_access_tokens: Vec<String>,
    record: Record,
}

/// A handle on the running mock provider.
#[derive(Clone, Debug)]
pub struct MockProvider {
    pub issuer: String,
    state: Arc<Mutex<State>>,
}

impl MockProvider {
    /// Binds the mock on a free port; `start` serves it (separately, so tests can start the
    /// web client before its identity server).
    pub fn bind(behaviour: Behaviour) -> (Self, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(State {
            behaviour,
            ..Default::default()
        }));
        (Self { issuer, state }, listener)
    }

    /// Serves on `listener` in the background.
    pub fn start(&self, listener: TcpListener, tls: &dev_certs::TlsMaterial) {
        let me = self.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(me.clone()))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/endsession", web::get().to(end_session))
        })
        .workers(1)
        .disable_signals()
        .listen_rustls_0_23(listener, tls.server_config().unwrap())
        .unwrap()
        .run();
        tokio::spawn(server);
    }

    /// Changes the behaviour from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    /// Forgets every access token issued so far: userinfo answers 401 to them, as an identity
    /// server does after a restart that lost its access-token records. Refresh tokens still work.
    pub fn forget_access_tokens(&self) {
        let mut s = self.state.lock().unwrap();
        let issued = s.record.access_tokens.clone();
        s.forgotten_access_tokens.extend(issued);
    }

    /// How many refresh grants were requested.
    pub fn refresh_requests(&self) -> usize {
        self.record(|r| {
            r.token_requests
                .iter()
                .filter(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token"))
                .count()
        })
    }

    /// The `sid` of the latest code grant.
    pub fn last_sid(&self) -> String {
        self.record(|r| r.sids.last().cloned().expect("a code grant"))
    }

    /// Reads what the provider has seen.
    pub fn record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&self.state.lock().unwrap().record)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

async fn discovery(me: web::Data<MockProvider>) -> HttpResponse {
    let metadata = ProviderMetadataWithLogout::new(
        IssuerUrl::new(me.issuer.clone()).unwrap(),
        AuthUrl::new(me.url("/authorize")).unwrap(),
        JsonWebKeySetUrl::new(me.url("/jwks")).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        LogoutProviderMetadata {
            end_session_endpoint: Some(EndSessionUrl::new(me.url("/endsession")).unwrap()),
            additional_metadata: EmptyAdditionalProviderMetadata {},
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(me.url("/token")).unwrap()))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(me.url("/userinfo")).unwrap()));
    HttpResponse::Ok().json(metadata)
}

async fn jwks(me: web::Data<MockProvider>) -> HttpResponse {
    let mut keys = vec![signing_key(false, "key-1").as_verification_key()];
    let mut s = me.state.lock().unwrap();
    s.record.jwks_requests += 1;
    if s.behaviour.rotated_to_second_key {
        keys.push(signing_key(true, "key-2").as_verification_key());
    }
    HttpResponse::Ok().json(CoreJsonWebKeySet::new(keys))
}

fn random() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn authorize(
    me: web::Data<MockProvider>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let q = query.into_inner();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    assert_eq!(q.get("client_id").map(String::as_str), Some("web"));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    let mut location = url::Url::parse(&redirect_uri).unwrap();
    let mut s = me.state.lock().unwrap();
    if let Some(error) = s.behaviour.authorize_error.clone() {
        location
            .query_pairs_mut()
            .append_pair("error", &error)
            .append_pair("error_description", "the user cancelled")
            .append_pair("state", &state);
    } else {
        let code = random();
        s.grants.insert(
            code.clone(),
            Grant {
                nonce: q.get("nonce").cloned(),
                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
                redirect_uri,
            },
        );
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state)
            .append_pair("iss", &me.issuer);
    }
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_string()))
        .finish()
}

fn oauth_error(code: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "error": code }))
}

fn client_authenticated(req: &HttpRequest) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("web:secret")
    );
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

async fn token(
    me: web::Data<MockProvider>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let form = form.into_inner();
    let delay = me.state.lock().unwrap().behaviour.token_delay_ms;
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let mut s = me.state.lock().unwrap();
    s.record.token_requests.push(form.clone());
    if !client_authenticated(&req) {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "invalid_client" }));
    }
    let behaviour = s.behaviour.clone();
    let mut sid = None;
    let (nonce, expires_in, with_id_token) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(grant) = form.get("code").and_then(|c| s.grants.remove(c)) else {
                return oauth_error("invalid_grant");
            };
            let verifier =
                PkceCodeVerifier::new(form.get("code_verifier").cloned().unwrap_or_default());
            if PkceCodeChallenge::from_code_verifier_sha256(&verifier).as_str() != grant.challenge
                || form.get("redirect_uri") != Some(&grant.redirect_uri)
            {
                return oauth_error("invalid_grant");
            }
            if !behaviour.no_sid {
                let new = random();
                s.record.sids.push(new.clone());
                sid = Some(new);
            }
            (grant.nonce, behaviour.code_expires_in.unwrap_or(3600), true)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if behaviour.refuse_refresh || !s.refresh_tokens.contains(&presented) {
                return oauth_error("invalid_grant");
            }
            s.refresh_tokens.retain(|t| *t != presented);
            (None, 3600, behaviour.id_token_on_refresh)
        }
        _ => return oauth_error("unsupported_grant_type"),
    };
    let access_token = random();
    let refresh_token = random();
    let now = Utc::now();
    let audience = behaviour
        .audience_override
        .clone()
        .unwrap_or_else(|| "web".into());
    let mut claims = IdTokenClaims::new(
        IssuerUrl::new(me.issuer.clone()).unwrap(),
        vec![Audience::new(audience)],
        now + chrono::Duration::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new(ALICE_SUB.into()))
            .set_name(Some(LocalizedClaim::from(EndUserName::new(
                "Alice Smith".into(),
            ))))
            .set_email(Some(EndUserEmail::new("AliceSmith@example.com".into()))),
        SidClaim { sid },
    )
    .set_auth_time(Some(now))
    .set_auth_context_ref(behaviour.acr.clone().map(AuthenticationContextClass::new))
    .set_auth_method_refs(Some(vec![
        AuthenticationMethodReference::new("pwd".into()),
        AuthenticationMethodReference::new("mfa".into()),
        AuthenticationMethodReference::new("otp".into()),
    ]));
    let nonce = behaviour.nonce_override.clone().or(nonce);
    claims = claims.set_nonce(nonce.map(Nonce::new));
    let hashed = if behaviour.wrong_at_hash {
        AccessToken::new("some-other-token".into())
    } else {
        AccessToken::new(access_token.clone())
    };
    let id_token = IdToken::new(
        claims,
        &if behaviour.rotated_to_second_key {
            signing_key(true, "key-2")
        } else {
            // A forged token names the published kid, signed with another key.
            signing_key(behaviour.sign_with_unpublished_key, "key-1")
        },
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&hashed),
        None,
    )
    .unwrap()
    .to_string();
    s.refresh_tokens.push(refresh_token.clone());
    s.record.access_tokens.push(access_token.clone());
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh_token,
        "scope": "openid profile",
    });
    if with_id_token {
        s.record.id_tokens.push(id_token.clone());
        body["id_token"] = serde_json::Value::String(id_token);
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

async fn userinfo(me: web::Data<MockProvider>, req: HttpRequest) -> HttpResponse {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut s = me.state.lock().unwrap();
    s.record.userinfo_tokens.push(bearer.clone());
    if s.behaviour.userinfo_unauthorized
        || !s.record.access_tokens.contains(&bearer)
        || s.forgotten_access_tokens.contains(&bearer)
    {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""))
            .finish();
    }
    HttpResponse::Ok().json(serde_json::json!({
        "sub": ALICE_SUB,
        "name": "Alice Smith",
        "website": "http://alice.example.com",
    }))
}

async fn end_session(query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let q = query.into_inner();
    let mut location = url::Url::parse(q.get("post_logout_redirect_uri").unwrap()).unwrap();
    if let Some(state) = q.get("state") {
        location.query_pairs_mut().append_pair("state", state);
    }
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_string()))
        .finish()
}
