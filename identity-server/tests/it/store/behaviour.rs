//! What every backend must do, as one function per behaviour taking the [`Stores`] under test.
//! `mod.rs` runs each against the embedded database and against a real Redis.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use identity_server::domain::{User, UserClaims};
use identity_server::oidc::{now, random_token};
use identity_server::store::{
    AccessTokenRecord, AuthorizeRequest, BudgetPolicy, ChallengeBudget, CodeRecord, CodeUse, Full,
    Grant, LockoutKey, LoginTransaction, Purpose, QuotaKey, QuotaRefused, RefreshUse,
    SecondFactorProof, Session, StoreError, StoredUser, Stores, digest,
};
use tokio::sync::Barrier;

/// How many callers race in the concurrency tests.
const RACERS: usize = 20;

/// How long the expiry tests wait for a record of a 2 s lifetime (whole seconds count, so a
/// record stored late in a second may live almost 3 s by the clock).
const EXPIRED: Duration = Duration::from_millis(3100);

/// Runs `RACERS` copies of `f` at once (all released by one barrier) and returns their answers.
async fn race<T, F, Fut>(stores: &Stores, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Stores, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 0..RACERS {
        let barrier = barrier.clone();
        let run = f(stores.clone(), i);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            run.await
        }));
    }
    let mut answers = Vec::with_capacity(RACERS);
    for task in tasks {
        answers.push(task.await.expect("a racing task panicked"));
    }
    answers
}

pub fn authorize_request() -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: "web".into(),
        redirect_uri: "https://localhost:5002/signin-oidc".into(),
        scope: vec!["openid".into(), "profile".into()],
        state: Some("state".into()),
        nonce: Some("nonce".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        prompt_login: false,
        prompt_none: false,
        max_age: None,
        login_hint: None,
        acr_values: None,
        ui_locales: None,
        acr_requested: vec!["urn:authsignal-mfa-rust:acr:mfa".into()],
        acr_essential: true,
    }
}

pub fn transaction(lifetime: Duration) -> LoginTransaction {
    LoginTransaction::new(
        "subject-1".into(),
        "identity-server-login".into(),
        random_token(),
        Purpose::Login {
            authorize_request_id: random_token(),
            remember: false,
            lockout_keys: vec![LockoutKey::user("Alice"), LockoutKey::unknown_ip()],
            proof: SecondFactorProof::Challenge,
            budget_counted: true,
        },
        lifetime,
    )
}

pub fn session(created: i64) -> Session {
    Session {
        sid: random_token(),
        subject: "subject-1".into(),
        auth_time: created,
        amr: vec!["pwd".into(), "mfa".into()],
        remember: false,
        created,
        last_seen: created,
        step_up_at: None,
        clients: Vec::new(),
        device: Default::default(),
    }
}

pub fn code(sid: &str, expires_at: i64) -> CodeRecord {
    CodeRecord {
        client_id: "web".into(),
        redirect_uri: "https://localhost:5002/signin-oidc".into(),
        code_challenge: None,
        nonce: Some("nonce".into()),
        subject: "subject-1".into(),
        auth_time: now(),
        amr: vec!["pwd".into()],
        sid: sid.into(),
        // Round-trips through both backends.
        acr: Some("urn:authsignal-mfa-rust:acr:mfa".into()),
        scope: vec!["openid".into()],
        expires_at,
        grant_id: None,
    }
}

pub fn grant(refresh_hash: &str, expires_at: i64) -> Grant {
    Grant {
        id: random_token(),
        client_id: "web".into(),
        subject: "subject-1".into(),
        scope: vec!["openid".into(), "offline_access".into()],
        auth_time: now(),
        amr: vec!["pwd".into()],
        sid: random_token(),
        acr: Some("urn:authsignal-mfa-rust:acr:mfa".into()),
        created: now(),
        expires_at,
        refresh_hash: Some(refresh_hash.into()),
        previous_hash: None,
        rotated_at: 0,
        revoked: false,
    }
}

pub fn access_token(exp: i64, grant_id: Option<String>) -> AccessTokenRecord {
    AccessTokenRecord {
        client_id: "web".into(),
        subject: "subject-1".into(),
        scope: vec!["openid".into()],
        aud: vec!["api1".into()],
        iat: now(),
        exp,
        grant_id,
        revoked: false,
    }
}

pub fn user(subject: &str, username: &str) -> StoredUser {
    StoredUser {
        user: User {
            subject: subject.into(),
            username: username.into(),
            email: Some(format!("{}@example.com", username.to_lowercase())),
            name: Some(username.into()),
            claims: UserClaims::default(),
        },
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization codes.

pub async fn a_code_is_redeemed_by_exactly_one_of_twenty_concurrent_callers(stores: &Stores) {
    let key = digest(&random_token());
    assert!(
        stores
            .codes
            .put(&key, &code("sid-1", now() + 60), 10)
            .await
            .unwrap()
    );
    let answers = race(stores, |s, _| {
        let key = key.clone();
        async move { s.codes.redeem(&key).await.unwrap() }
    })
    .await;
    let first = answers
        .iter()
        .filter(|a| matches!(a, CodeUse::First(_)))
        .count();
    let reused = answers
        .iter()
        .filter(|a| matches!(a, CodeUse::Reused(_)))
        .count();
    assert_eq!((first, reused), (1, RACERS - 1), "{answers:?}");
}

pub async fn a_reused_code_reports_the_grant_its_first_redemption_created(stores: &Stores) {
    let key = digest(&random_token());
    let record = code("sid-1", now() + 60);
    assert!(stores.codes.put(&key, &record, 10).await.unwrap());
    match stores.codes.redeem(&key).await.unwrap() {
        CodeUse::First(found) => assert_eq!(found, record),
        other => panic!("first redemption answered {other:?}"),
    }
    stores.codes.set_grant(&key, "grant-7").await.unwrap();
    match stores.codes.redeem(&key).await.unwrap() {
        CodeUse::Reused(found) => assert_eq!(found.grant_id.as_deref(), Some("grant-7")),
        other => panic!("second redemption answered {other:?}"),
    }
    assert_eq!(
        stores.codes.redeem(&digest(&random_token())).await.unwrap(),
        CodeUse::Unknown
    );
    // Binding a grant to an unknown code creates nothing.
    let unknown = digest(&random_token());
    stores.codes.set_grant(&unknown, "grant-8").await.unwrap();
    assert_eq!(
        stores.codes.redeem(&unknown).await.unwrap(),
        CodeUse::Unknown
    );
}

pub async fn a_session_holds_at_most_its_cap_of_unredeemed_codes(stores: &Stores) {
    let sid = random_token();
    let keys: Vec<String> = (0..3).map(|_| digest(&random_token())).collect();
    for key in &keys {
        assert!(
            stores
                .codes
                .put(key, &code(&sid, now() + 60), 3)
                .await
                .unwrap()
        );
    }
    let extra = digest(&random_token());
    assert!(
        !stores
            .codes
            .put(&extra, &code(&sid, now() + 60), 3)
            .await
            .unwrap(),
        "a fourth unredeemed code was accepted"
    );
    assert_eq!(stores.codes.redeem(&extra).await.unwrap(), CodeUse::Unknown);
    // Another session is not affected.
    assert!(
        stores
            .codes
            .put(
                &digest(&random_token()),
                &code(&random_token(), now() + 60),
                3
            )
            .await
            .unwrap()
    );
    // A redeemed code no longer counts.
    assert!(matches!(
        stores.codes.redeem(&keys[0]).await.unwrap(),
        CodeUse::First(_)
    ));
    assert!(
        stores
            .codes
            .put(&extra, &code(&sid, now() + 60), 3)
            .await
            .unwrap()
    );
}

pub async fn a_code_is_forgotten_once_its_reuse_memory_has_passed(stores: &Stores) {
    let key = digest(&random_token());
    // Expired 598 s ago: remembered for two more seconds.
    let expires_at = now() - identity_server::store::records::CODE_REUSE_MEMORY_SECS + 2;
    assert!(
        stores
            .codes
            .put(&key, &code("sid-1", expires_at), 10)
            .await
            .unwrap()
    );
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.codes.redeem(&key).await.unwrap(), CodeUse::Unknown);
}

// ---------------------------------------------------------------------------------------------
// Grants and refresh rotation.

pub async fn a_grant_revoked_before_it_is_created_is_never_created(stores: &Stores) {
    // A code's replay revokes the grant its first redemption is about to create.
    let refresh = digest(&random_token());
    let g = grant(&refresh, now() + 3600);
    stores.grants.revoke(&g.id).await.unwrap();
    assert!(
        !stores.grants.create(&g).await.unwrap(),
        "the creation racing the replay must fail"
    );
    assert_eq!(stores.grants.get(&g.id).await.unwrap(), None);
    assert_eq!(stores.grants.find_by_refresh(&refresh).await.unwrap(), None);
    assert_eq!(
        stores
            .grants
            .rotate(&refresh, &digest(&random_token()), now(), 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    // Another grant is not affected.
    let other = grant(&digest(&random_token()), now() + 3600);
    assert!(stores.grants.create(&other).await.unwrap());
}

pub async fn a_refresh_token_rotates_for_exactly_one_of_twenty_concurrent_callers(stores: &Stores) {
    let old = digest(&random_token());
    let g = grant(&old, now() + 3600);
    assert!(stores.grants.create(&g).await.unwrap());
    let news: Vec<String> = (0..RACERS).map(|_| digest(&random_token())).collect();
    let answers = race(stores, |s, i| {
        let (old, new) = (old.clone(), news[i].clone());
        async move { s.grants.rotate(&old, &new, now(), 0).await.unwrap() }
    })
    .await;
    let winners: Vec<&Grant> = answers
        .iter()
        .filter_map(|a| match a {
            RefreshUse::Rotated(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    // The first replay revoked the grant; later ones found it revoked.
    assert!(
        answers.iter().any(|a| matches!(a, RefreshUse::Reused(_))),
        "{answers:?}"
    );
    let stored = stores.grants.get(&g.id).await.unwrap().unwrap();
    assert!(
        stored.revoked,
        "a replayed refresh token left the grant active"
    );
    let winner_new = winners[0].refresh_hash.clone().unwrap();
    assert_eq!(
        stores
            .grants
            .rotate(&winner_new, &digest(&random_token()), now(), 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
}

pub async fn a_rotated_away_refresh_token_revokes_its_grant(stores: &Stores) {
    let (r1, r2) = (digest(&random_token()), digest(&random_token()));
    let g = grant(&r1, now() + 3600);
    assert!(stores.grants.create(&g).await.unwrap());
    let t = now();
    match stores.grants.rotate(&r1, &r2, t, 0).await.unwrap() {
        RefreshUse::Rotated(rotated) => {
            assert_eq!(rotated.id, g.id);
            assert_eq!(rotated.refresh_hash.as_deref(), Some(r2.as_str()));
            assert_eq!(rotated.previous_hash.as_deref(), Some(r1.as_str()));
            assert_eq!(rotated.rotated_at, t);
            assert!(!rotated.revoked);
        }
        other => panic!("rotation answered {other:?}"),
    }
    let found = stores.grants.find_by_refresh(&r2).await.unwrap().unwrap();
    assert_eq!(found.refresh_hash.as_deref(), Some(r2.as_str()));
    match stores
        .grants
        .rotate(&r1, &digest(&random_token()), t + 1, 0)
        .await
        .unwrap()
    {
        RefreshUse::Reused(reused) => assert!(reused.revoked),
        other => panic!("a replay answered {other:?}"),
    }
    // The current token died with the grant; the old one still finds the (revoked) grant.
    assert_eq!(
        stores
            .grants
            .rotate(&r2, &digest(&random_token()), t + 2, 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    assert!(
        stores
            .grants
            .find_by_refresh(&r1)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(
        !identity_server::store::grant_is_active(stores.grants.as_ref(), &g.id, now())
            .await
            .unwrap()
    );
}

pub async fn the_previous_refresh_token_rotates_again_within_the_reuse_interval_only(
    stores: &Stores,
) {
    let (r1, r2, r3) = (
        digest(&random_token()),
        digest(&random_token()),
        digest(&random_token()),
    );
    let g = grant(&r1, now() + 3600);
    assert!(stores.grants.create(&g).await.unwrap());
    let t = now();
    assert!(matches!(
        stores.grants.rotate(&r1, &r2, t, 30).await.unwrap(),
        RefreshUse::Rotated(_)
    ));
    match stores.grants.rotate(&r1, &r3, t + 20, 30).await.unwrap() {
        RefreshUse::Rotated(again) => {
            assert_eq!(again.refresh_hash.as_deref(), Some(r3.as_str()));
            assert_eq!(again.rotated_at, t, "a retry extended the interval");
        }
        other => panic!("a retry within the interval answered {other:?}"),
    }
    // Past the interval (counted from the first rotation), the previous token is a replay.
    assert!(matches!(
        stores
            .grants
            .rotate(&r1, &digest(&random_token()), t + 31, 30)
            .await
            .unwrap(),
        RefreshUse::Reused(_)
    ));
    assert!(stores.grants.get(&g.id).await.unwrap().unwrap().revoked);
}

pub async fn an_expired_or_revoked_grant_does_not_rotate(stores: &Stores) {
    let r1 = digest(&random_token());
    let g = grant(&r1, now() + 3600);
    assert!(stores.grants.create(&g).await.unwrap());
    assert_eq!(
        stores
            .grants
            .rotate(&r1, &digest(&random_token()), g.expires_at, 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    assert!(!stores.grants.get(&g.id).await.unwrap().unwrap().revoked);
    stores.grants.revoke(&g.id).await.unwrap();
    assert_eq!(
        stores
            .grants
            .rotate(&r1, &digest(&random_token()), now(), 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        stores
            .grants
            .rotate(&digest(&random_token()), &digest(&random_token()), now(), 0)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    // Revoking an unknown grant creates nothing.
    let unknown = random_token();
    stores.grants.revoke(&unknown).await.unwrap();
    assert_eq!(stores.grants.get(&unknown).await.unwrap(), None);
}

pub async fn a_grant_is_gone_once_it_expires(stores: &Stores) {
    let r1 = digest(&random_token());
    let g = grant(&r1, now() + 2);
    assert!(stores.grants.create(&g).await.unwrap());
    assert_eq!(stores.grants.get(&g.id).await.unwrap().as_ref(), Some(&g));
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.grants.get(&g.id).await.unwrap(), None);
    assert_eq!(stores.grants.find_by_refresh(&r1).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Login transactions and authorize requests.

pub async fn a_login_transaction_is_taken_by_exactly_one_of_twenty_concurrent_callers(
    stores: &Stores,
) {
    let tx = transaction(Duration::from_secs(600));
    stores.transactions.insert(&tx).await.unwrap();
    let answers = race(stores, |s, _| {
        let id = tx.id.clone();
        async move { s.transactions.take(&id).await.unwrap() }
    })
    .await;
    let taken: Vec<&LoginTransaction> = answers.iter().flatten().collect();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        taken[0], &tx,
        "the taken transaction differs from the stored one"
    );
    assert!(taken[0].id.ct_eq(&tx.id));
}

pub async fn a_step_up_transaction_keeps_the_session_and_authorize_request_it_is_bound_to(
    stores: &Stores,
) {
    let tx = LoginTransaction::new(
        "subject-1".into(),
        "identity-server-step-up".into(),
        random_token(),
        Purpose::StepUp {
            sid: random_token(),
            authorize_request_id: Some(random_token()),
        },
        Duration::from_secs(600),
    );
    stores.transactions.insert(&tx).await.unwrap();
    assert_eq!(
        stores.transactions.take(&tx.id).await.unwrap(),
        Some(tx.clone())
    );
    assert_eq!(stores.transactions.take(&tx.id).await.unwrap(), None);
}

pub async fn a_login_transaction_is_gone_once_it_expires(stores: &Stores) {
    let short = transaction(Duration::from_secs(2));
    let long = transaction(Duration::from_secs(600));
    stores.transactions.insert(&short).await.unwrap();
    stores.transactions.insert(&long).await.unwrap();
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.transactions.take(&short.id).await.unwrap(), None);
    assert_eq!(
        stores.transactions.take(&long.id).await.unwrap(),
        Some(long)
    );
}

pub async fn an_authorize_request_is_taken_by_exactly_one_of_twenty_concurrent_callers(
    stores: &Stores,
) {
    let key = digest(&random_token());
    let request = authorize_request();
    stores
        .authorize_requests
        .put(&key, &request, now() + 900, "203.0.113.7", 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stores.authorize_requests.get(&key).await.unwrap().as_ref(),
        Some(&request)
    );
    let answers = race(stores, |s, _| {
        let key = key.clone();
        async move { s.authorize_requests.take(&key).await.unwrap() }
    })
    .await;
    let taken: Vec<&AuthorizeRequest> = answers.iter().flatten().collect();
    assert_eq!(taken, vec![&request]);
    assert_eq!(stores.authorize_requests.get(&key).await.unwrap(), None);
}

pub async fn a_network_holds_at_most_its_cap_of_pending_authorize_requests(stores: &Stores) {
    let network = "198.51.100.7";
    let request = authorize_request();
    let mut keys = Vec::new();
    for _ in 0..3 {
        let key = digest(&random_token());
        stores
            .authorize_requests
            .put(&key, &request, now() + 900, network, 3)
            .await
            .unwrap()
            .unwrap();
        keys.push(key);
    }
    let extra = digest(&random_token());
    assert_eq!(
        stores
            .authorize_requests
            .put(&extra, &request, now() + 900, network, 3)
            .await
            .unwrap(),
        Err(Full::Owner)
    );
    assert_eq!(stores.authorize_requests.get(&extra).await.unwrap(), None);
    stores
        .authorize_requests
        .put(&extra, &request, now() + 900, "2001:db8:1:2::/64", 3)
        .await
        .unwrap()
        .unwrap();
    // A taken request no longer counts against its network.
    assert!(
        stores
            .authorize_requests
            .take(&keys[0])
            .await
            .unwrap()
            .is_some()
    );
    stores
        .authorize_requests
        .put(&digest(&random_token()), &request, now() + 900, network, 3)
        .await
        .unwrap()
        .unwrap();
}

pub async fn an_authorize_request_is_gone_once_it_expires(stores: &Stores) {
    let key = digest(&random_token());
    stores
        .authorize_requests
        .put(&key, &authorize_request(), now() + 2, "203.0.113.8", 20)
        .await
        .unwrap()
        .unwrap();
    assert!(stores.authorize_requests.get(&key).await.unwrap().is_some());
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.authorize_requests.get(&key).await.unwrap(), None);
    assert_eq!(stores.authorize_requests.take(&key).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Sessions.

pub async fn a_session_ends_after_its_idle_timeout_counted_from_its_last_use(stores: &Stores) {
    let (idle, absolute) = (100, 1000);
    let t = now();
    let key = digest(&random_token());
    let s = session(t);
    stores.sessions.put(&key, &s, t + absolute).await.unwrap();
    let touched = stores
        .sessions
        .touch(&key, t + idle - 1, idle, absolute)
        .await
        .unwrap();
    let touched = touched.expect("a session in use was dropped");
    assert_eq!(
        (touched.sid.as_str(), touched.subject.as_str()),
        (s.sid.as_str(), s.subject.as_str())
    );
    // Idle counts from the last use, not from the sign-in.
    assert!(
        stores
            .sessions
            .touch(&key, t + 2 * idle - 2, idle, absolute)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        stores
            .sessions
            .touch(&key, t + 4 * idle, idle, absolute)
            .await
            .unwrap(),
        None
    );
    // An expired session is removed, not just hidden.
    assert_eq!(
        stores
            .sessions
            .touch(&key, t + 2 * idle - 1, idle, absolute)
            .await
            .unwrap(),
        None
    );
}

pub async fn a_session_ends_at_its_absolute_timeout_however_often_it_is_used(stores: &Stores) {
    let (idle, absolute) = (100, 250);
    let t = now();
    let key = digest(&random_token());
    stores
        .sessions
        .put(&key, &session(t), t + absolute)
        .await
        .unwrap();
    for step in [90, 180, 240] {
        assert!(
            stores
                .sessions
                .touch(&key, t + step, idle, absolute)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(
        stores
            .sessions
            .touch(&key, t + absolute, idle, absolute)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .sessions
            .touch(&key, t + absolute + 1, idle, absolute)
            .await
            .unwrap(),
        None
    );
}

pub async fn a_removed_session_is_gone(stores: &Stores) {
    let t = now();
    let key = digest(&random_token());
    stores
        .sessions
        .put(&key, &session(t), t + 1000)
        .await
        .unwrap();
    stores.sessions.remove(&key).await.unwrap();
    assert_eq!(
        stores.sessions.touch(&key, t, 100, 1000).await.unwrap(),
        None
    );
    // Removing an unknown session is not an error.
    stores
        .sessions
        .remove(&digest(&random_token()))
        .await
        .unwrap();
}

pub async fn a_session_ended_meanwhile_is_never_written_back_by_a_replace(stores: &Stores) {
    let t = now();
    let subject = format!("replace{}", random_token());
    let (key, moved) = (digest(&random_token()), digest(&random_token()));
    let mut s = session_of(&subject, t);
    stores.sessions.create(&key, &s, t + 1000).await.unwrap();
    // In place, and under a new key: the old key stops working, the new one holds the record,
    // the subject lists it once.
    s.clients = vec!["web".into()];
    assert!(
        stores
            .sessions
            .replace(&key, &key, &s, t + 1000)
            .await
            .unwrap()
    );
    s.step_up_at = Some(t);
    assert!(
        stores
            .sessions
            .replace(&key, &moved, &s, t + 1000)
            .await
            .unwrap()
    );
    assert!(
        stores
            .sessions
            .touch(&key, t, 100, 1000)
            .await
            .unwrap()
            .is_none()
    );
    let back = stores
        .sessions
        .touch(&moved, t, 100, 1000)
        .await
        .unwrap()
        .expect("the session is under its new key");
    assert_eq!(
        (back.sid.as_str(), back.step_up_at),
        (s.sid.as_str(), Some(t))
    );
    assert_eq!(back.clients, vec!["web".to_owned()]);
    let listed = stores.sessions.list(&subject, t, 100, 1000).await.unwrap();
    assert_eq!(sids(&listed), vec![s.sid.clone()]);
    // "Sign out everywhere" ends it; a request that read it before writes it back in neither way.
    assert_eq!(stores.sessions.end_all(&subject).await.unwrap().len(), 1);
    assert!(
        !stores
            .sessions
            .replace(&moved, &moved, &s, t + 1000)
            .await
            .unwrap()
    );
    let other = digest(&random_token());
    assert!(
        !stores
            .sessions
            .replace(&moved, &other, &s, t + 1000)
            .await
            .unwrap()
    );
    assert!(
        stores
            .sessions
            .touch(&moved, t, 100, 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .touch(&other, t, 100, 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .list(&subject, t, 100, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    // An unknown key replaces nothing either.
    assert!(
        !stores
            .sessions
            .replace(&digest(&random_token()), &other, &s, t + 1000)
            .await
            .unwrap()
    );
    assert!(
        stores
            .sessions
            .touch(&other, t, 100, 1000)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_session_put_again_under_its_key_replaces_the_record_with_its_clients(
    stores: &Stores,
) {
    let t = now();
    let key = digest(&random_token());
    let mut s = session(t);
    stores.sessions.put(&key, &s, t + 1000).await.unwrap();
    s.clients = vec!["web".into()];
    stores.sessions.put(&key, &s, t + 1000).await.unwrap();
    s.clients.push("web2".into());
    stores.sessions.put(&key, &s, t + 1000).await.unwrap();
    let back = stores
        .sessions
        .touch(&key, t, 100, 1000)
        .await
        .unwrap()
        .expect("the session is live");
    assert_eq!(back.clients, vec!["web".to_owned(), "web2".to_owned()]);
    assert_eq!(back.sid, s.sid);
}

// ---------------------------------------------------------------------------------------------
// Access tokens.

pub async fn an_access_token_record_is_kept_until_it_expires_and_can_be_revoked(stores: &Stores) {
    let jti = random_token();
    let record = access_token(now() + 3600, Some("grant-1".into()));
    assert!(stores.access_tokens.put(&jti, &record).await.unwrap());
    assert_eq!(
        stores.access_tokens.get(&jti).await.unwrap().as_ref(),
        Some(&record)
    );
    stores.access_tokens.revoke(&jti).await.unwrap();
    assert!(
        stores
            .access_tokens
            .get(&jti)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let short = random_token();
    assert!(
        stores
            .access_tokens
            .put(&short, &access_token(now() + 2, None))
            .await
            .unwrap()
    );
    assert!(stores.access_tokens.get(&short).await.unwrap().is_some());
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.access_tokens.get(&short).await.unwrap(), None);
    // Revoking an unknown or expired record creates nothing.
    stores.access_tokens.revoke(&short).await.unwrap();
    assert_eq!(stores.access_tokens.get(&short).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Accounts.

pub async fn of_twenty_concurrent_creations_of_one_username_exactly_one_succeeds(stores: &Stores) {
    let name = "Carol".to_owned();
    let subjects: Vec<String> = (0..RACERS).map(|_| random_token()).collect();
    let answers = race(stores, |s, i| {
        // The same name in different cases: usernames are unique case-insensitively.
        let name = if i % 2 == 0 {
            name.clone()
        } else {
            name.to_lowercase()
        };
        let u = user(&subjects[i], &name);
        async move { s.users.create(&u).await.unwrap() }
    })
    .await;
    let winners: Vec<usize> = (0..RACERS).filter(|i| answers[*i]).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let winner = &subjects[winners[0]];
    let found = stores
        .users
        .find_by_username(&name.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&found.user.subject, winner);
    assert_eq!(
        stores.users.find_by_subject(winner).await.unwrap(),
        Some(found)
    );
    for (i, subject) in subjects.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(stores.users.find_by_subject(subject).await.unwrap(), None);
        }
    }
}

pub async fn an_account_is_found_by_subject_and_lowercased_username_and_its_subject_is_unique(
    stores: &Stores,
) {
    let subject = random_token();
    let u = user(&subject, "Dave");
    assert!(stores.users.create(&u).await.unwrap());
    assert_eq!(
        stores
            .users
            .find_by_username("dave")
            .await
            .unwrap()
            .as_ref(),
        Some(&u)
    );
    assert_eq!(
        stores
            .users
            .find_by_subject(&subject)
            .await
            .unwrap()
            .as_ref(),
        Some(&u)
    );
    assert_eq!(
        stores.users.find_by_username("Dave").await.unwrap(),
        None,
        "lookups take the lowercased name"
    );
    // Another name under a taken subject is refused and leaves nothing behind.
    assert!(!stores.users.create(&user(&subject, "Eve")).await.unwrap());
    assert_eq!(stores.users.find_by_username("eve").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Failed-login counters.

pub async fn of_twenty_concurrent_password_checks_at_most_the_maximum_are_reserved(
    stores: &Stores,
) {
    let key = LockoutKey::user(&format!("frank{}", random_token()));
    let answers = race(stores, |s, _| {
        let key = key.clone();
        async move { s.failed_logins.begin_attempt(&key, 5, true).await.unwrap() }
    })
    .await;
    assert_eq!(answers.iter().filter(|a| **a).count(), 5, "{answers:?}");
    // All five fail: each answer tells the failures left, the fifth locks the key, and
    // nothing more is reserved.
    let mut left = Vec::new();
    for _ in 0..5 {
        left.push(
            stores
                .failed_logins
                .fail_attempt(&key, 5, true)
                .await
                .unwrap(),
        );
    }
    assert_eq!(left, [4, 3, 2, 1, 0]);
    assert!(stores.failed_logins.is_locked(&key).await.unwrap());
    assert!(
        !stores
            .failed_logins
            .begin_attempt(&key, 5, true)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .failed_logins
            .begin_attempt(&key, 5, false)
            .await
            .unwrap()
    );
    // Failures while locked do not unlock or reset it; a reset keeps the lockout.
    assert_eq!(
        stores
            .failed_logins
            .fail_attempt(&key, 5, false)
            .await
            .unwrap(),
        0
    );
    stores.failed_logins.reset(&key).await.unwrap();
    assert!(stores.failed_logins.is_locked(&key).await.unwrap());
}

pub async fn a_check_only_attempt_reserves_nothing(stores: &Stores) {
    let key = LockoutKey::ip("203.0.113.9".parse().unwrap());
    let answers = race(stores, |s, _| {
        let key = key.clone();
        async move { s.failed_logins.begin_attempt(&key, 5, false).await.unwrap() }
    })
    .await;
    assert!(answers.iter().all(|a| *a), "{answers:?}");
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 1, true)
            .await
            .unwrap()
    );
}

pub async fn a_forgiven_attempt_frees_its_reservation_and_a_reset_forgets_failures(
    stores: &Stores,
) {
    let key = LockoutKey::user(&format!("grace{}", random_token()));
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    stores.failed_logins.forgive(&key).await.unwrap();
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    stores.failed_logins.forgive(&key).await.unwrap();
    stores.failed_logins.forgive(&key).await.unwrap();
    // One failure counted; a reset forgets it.
    assert_eq!(
        stores
            .failed_logins
            .fail_attempt(&key, 2, false)
            .await
            .unwrap(),
        1
    );
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    stores.failed_logins.forgive(&key).await.unwrap();
    stores.failed_logins.reset(&key).await.unwrap();
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
    assert!(!stores.failed_logins.is_locked(&key).await.unwrap());
}

/// Runs with the short policy of `mod.rs` (window and lockout of [`super::SHORT_SECS`]).
pub async fn a_lockout_ends_after_its_duration(stores: &Stores) {
    let key = LockoutKey::user(&format!("heidi{}", random_token()));
    assert_eq!(
        stores
            .failed_logins
            .fail_attempt(&key, 2, false)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stores
            .failed_logins
            .fail_attempt(&key, 2, false)
            .await
            .unwrap(),
        0
    );
    assert!(stores.failed_logins.is_locked(&key).await.unwrap());
    tokio::time::sleep(Duration::from_secs(super::SHORT_SECS as u64 + 1)).await;
    assert!(!stores.failed_logins.is_locked(&key).await.unwrap());
    assert!(
        stores
            .failed_logins
            .begin_attempt(&key, 2, true)
            .await
            .unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Second-factor budgets.

/// A budget of five challenges a window, with blocks long enough not to end during a test.
const BUDGET: BudgetPolicy = BudgetPolicy {
    max_unsuccessful: 5,
    window_secs: 900,
    first_block_secs: 900,
    max_block_secs: 3600,
    memory_secs: 86_400,
};

/// A budget of two challenges, a window of 3 s and a first block of 1 s, doubling up to 4 s.
/// (Stores count whole seconds, so a wait of `d` s may span `d + 1` of theirs.)
const SHORT_BUDGET: BudgetPolicy = BudgetPolicy {
    max_unsuccessful: 2,
    window_secs: 3,
    first_block_secs: 1,
    max_block_secs: 4,
    memory_secs: 3600,
};

/// The length of the block that `answer` began (or refused with), measured from `before`.
fn block_from(answer: ChallengeBudget, before: i64) -> Option<i64> {
    match answer {
        ChallengeBudget::Allowed {
            blocked_until: Some(until),
        }
        | ChallengeBudget::Blocked { until } => Some(until - before),
        ChallengeBudget::Allowed {
            blocked_until: None,
        } => None,
    }
}

fn allowed(answer: ChallengeBudget) -> bool {
    matches!(answer, ChallengeBudget::Allowed { .. })
}

pub async fn of_twenty_concurrent_challenges_at_most_the_budget_start(stores: &Stores) {
    let subject = format!("ivan{}", random_token());
    let before = now();
    let answers = race(stores, |s, _| {
        let subject = subject.clone();
        async move {
            s.failed_logins
                .begin_challenge(&subject, BUDGET)
                .await
                .unwrap()
        }
    })
    .await;
    let started: Vec<_> = answers.iter().copied().filter(|a| allowed(*a)).collect();
    assert_eq!(started.len(), 5, "{answers:?}");
    // Exactly one of them took the last of the budget and began the first block.
    let began: Vec<_> = started
        .iter()
        .filter_map(|a| block_from(*a, before))
        .collect();
    assert_eq!(began.len(), 1, "{answers:?}");
    assert!((899..=901).contains(&began[0]), "{began:?}");
    assert!(
        !allowed(
            stores
                .failed_logins
                .begin_challenge(&subject, BUDGET)
                .await
                .unwrap()
        ),
        "the sixth challenge waits for the block"
    );
    // Another account has a budget of its own.
    let other = format!("judy{}", random_token());
    assert_eq!(
        stores
            .failed_logins
            .begin_challenge(&other, BUDGET)
            .await
            .unwrap(),
        ChallengeBudget::Allowed {
            blocked_until: None
        }
    );
}

pub async fn a_passed_challenge_is_forgiven_and_ends_the_block_it_began(stores: &Stores) {
    let subject = format!("karl{}", random_token());
    let f = &stores.failed_logins;
    for _ in 0..4 {
        assert!(allowed(f.begin_challenge(&subject, BUDGET).await.unwrap()));
    }
    // One of the four passes: its count is forgiven, so two more may start before the block.
    f.challenge_passed(&subject, BUDGET).await.unwrap();
    assert_eq!(
        f.begin_challenge(&subject, BUDGET).await.unwrap(),
        ChallengeBudget::Allowed {
            blocked_until: None
        }
    );
    let fifth = f.begin_challenge(&subject, BUDGET).await.unwrap();
    assert!(block_from(fifth, now()).is_some(), "{fifth:?}");
    assert!(!allowed(f.begin_challenge(&subject, BUDGET).await.unwrap()));
    // The challenge that began the block passes: the owner proved the factor, the block ends.
    f.challenge_passed(&subject, BUDGET).await.unwrap();
    let again = f.begin_challenge(&subject, BUDGET).await.unwrap();
    let before = now();
    // The budget is used up again by that one challenge, and the block is a *first* one again.
    let block = block_from(again, before).expect("the last of the budget begins a block");
    assert!((899..=901).contains(&block), "{again:?}");
}

/// Blocks grow and the budget does not refill by waiting out a block (`SHORT_BUDGET`).
pub async fn waiting_out_a_block_does_not_refill_the_budget_and_the_next_block_is_longer(
    stores: &Stores,
) {
    let subject = format!("liam{}", random_token());
    let f = &stores.failed_logins;
    assert_eq!(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap(),
        ChallengeBudget::Allowed {
            blocked_until: None
        }
    );
    let before = now();
    let first = block_from(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap(),
        before,
    )
    .expect("the second challenge uses up the budget");
    assert!((1..=2).contains(&first), "{first}");
    assert!(!allowed(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap()
    ));
    // After the block: one challenge only, and it begins a block twice as long.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = now();
    let second = f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap();
    assert!(allowed(second), "{second:?}");
    let second = block_from(second, before).expect("the budget is still used up");
    assert!((2..=3).contains(&second), "{second}");
    assert!(!allowed(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap()
    ));
    // A whole window after that block refills the budget, but the escalation stays: the block
    // that ends it is longer again.
    tokio::time::sleep(Duration::from_millis(2000 + 3000 + 1100)).await;
    assert_eq!(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap(),
        ChallengeBudget::Allowed {
            blocked_until: None
        }
    );
    let before = now();
    let third = block_from(
        f.begin_challenge(&subject, SHORT_BUDGET).await.unwrap(),
        before,
    )
    .expect("the second challenge uses up the budget again");
    assert!((4..=5).contains(&third), "{third}");
}

// ---------------------------------------------------------------------------------------------
// Quotas.

fn quota(name: &str, max: u32) -> QuotaKey {
    QuotaKey {
        key: format!("cq:n:{name}"),
        max,
        window_secs: 3600,
    }
}

pub async fn a_quota_reservation_counts_every_key_or_none(stores: &Stores) {
    let tag = random_token();
    let (a, b) = (quota(&format!("a{tag}"), 2), quota(&format!("b{tag}"), 1));
    let both = [a.clone(), b.clone()];
    assert_eq!(stores.quotas.reserve(&both).await.unwrap(), Ok(()));
    match stores.quotas.reserve(&both).await.unwrap() {
        Err(QuotaRefused {
            index: 1,
            retry_after_secs,
        }) => {
            assert!((1..=3600).contains(&retry_after_secs), "{retry_after_secs}");
        }
        other => panic!("a reservation past b's maximum answered {other:?}"),
    }
    // The refused reservation did not count for `a`: it has exactly one left.
    assert_eq!(
        stores
            .quotas
            .reserve(std::slice::from_ref(&a))
            .await
            .unwrap(),
        Ok(())
    );
    assert!(matches!(
        stores
            .quotas
            .reserve(std::slice::from_ref(&a))
            .await
            .unwrap(),
        Err(QuotaRefused { index: 0, .. })
    ));
    // Giving back makes room again, on every key.
    stores.quotas.give_back(&both).await.unwrap();
    assert_eq!(stores.quotas.reserve(&both).await.unwrap(), Ok(()));
    assert_eq!(stores.quotas.reserve(&[]).await.unwrap(), Ok(()));
}

pub async fn of_twenty_concurrent_quota_reservations_exactly_the_maximum_succeed(stores: &Stores) {
    let tag = random_token();
    let keys = vec![
        quota(&format!("n{tag}"), 5),
        quota(&format!("all{tag}"), 100),
    ];
    let answers = race(stores, |s, _| {
        let keys = keys.clone();
        async move { s.quotas.reserve(&keys).await.unwrap() }
    })
    .await;
    assert_eq!(
        answers.iter().filter(|a| a.is_ok()).count(),
        5,
        "{answers:?}"
    );
}

pub async fn a_quota_window_starts_again_once_it_is_over(stores: &Stores) {
    let key = QuotaKey {
        key: format!("ca:c:{}", random_token()),
        max: 1,
        window_secs: 1,
    };
    let keys = std::slice::from_ref(&key);
    assert_eq!(stores.quotas.reserve(keys).await.unwrap(), Ok(()));
    assert!(stores.quotas.reserve(keys).await.unwrap().is_err());
    tokio::time::sleep(EXPIRED).await;
    assert_eq!(stores.quotas.reserve(keys).await.unwrap(), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Health.

pub async fn a_reachable_backend_reports_healthy(stores: &Stores) {
    stores.health.check().await.unwrap();
    assert!(matches!(stores.health.name(), "embedded" | "redis"));
}

/// One store call's name, how long it took, and its outcome.
pub type Outcome = (&'static str, Duration, Result<(), StoreError>);

/// Every store call once (for the outage test and the key census of `redis.rs`), with the raw
/// `secrets` as codes, refresh tokens, handles and ids.
pub async fn every_call_once(stores: &Stores, secrets: &Secrets) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = Vec::new();
    macro_rules! call {
        ($name:literal, $call:expr) => {{
            let started = std::time::Instant::now();
            let result = $call.await.map(drop);
            out.push(($name, started.elapsed(), result));
        }};
    }
    let t = now();
    let ar = digest(&secrets.authorize_request_id);
    let request = authorize_request();
    call!(
        "authorize put",
        stores
            .authorize_requests
            .put(&ar, &request, t + 900, "203.0.113.50", 20)
    );
    call!("authorize get", stores.authorize_requests.get(&ar));
    call!(
        "transaction insert",
        stores.transactions.insert(&secrets.transaction)
    );
    let session_key = digest(&secrets.session_handle);
    let s = session(t);
    call!(
        "session put",
        stores.sessions.put(&session_key, &s, t + 1000)
    );
    call!(
        "session touch",
        stores.sessions.touch(&session_key, t, 100, 1000)
    );
    let code_key = digest(&secrets.code);
    let c = code("sid-census", t + 60);
    call!("code put", stores.codes.put(&code_key, &c, 10));
    call!("code redeem", stores.codes.redeem(&code_key));
    let unredeemed = digest(&random_token());
    call!(
        "code put (kept unredeemed)",
        stores.codes.put(&unredeemed, &c, 10)
    );
    let refresh = digest(&secrets.refresh_token);
    let next = digest(&secrets.next_refresh_token);
    let g = grant(&refresh, t + 3600);
    call!("grant create", stores.grants.create(&g));
    call!("code set_grant", stores.codes.set_grant(&code_key, &g.id));
    call!("grant get", stores.grants.get(&g.id));
    call!(
        "grant find_by_refresh",
        stores.grants.find_by_refresh(&refresh)
    );
    call!("grant rotate", stores.grants.rotate(&refresh, &next, t, 0));
    let jti = random_token();
    let at = access_token(t + 3600, Some(g.id.clone()));
    call!("access token put", stores.access_tokens.put(&jti, &at));
    call!("access token get", stores.access_tokens.get(&jti));
    call!("access token revoke", stores.access_tokens.revoke(&jti));
    let account = user(&random_token(), &secrets.username);
    call!("user create", stores.users.create(&account));
    let lower = secrets.username.to_lowercase();
    call!(
        "user find_by_username",
        stores.users.find_by_username(&lower)
    );
    call!(
        "user find_by_subject",
        stores.users.find_by_subject("nobody")
    );
    let lockout = LockoutKey::user(&secrets.username);
    call!(
        "lockout is_locked",
        stores.failed_logins.is_locked(&lockout)
    );
    call!(
        "lockout begin",
        stores.failed_logins.begin_attempt(&lockout, 5, true)
    );
    call!(
        "lockout fail",
        stores.failed_logins.fail_attempt(&lockout, 5, true)
    );
    let ip = LockoutKey::ip("203.0.113.51".parse().expect("an address"));
    call!(
        "lockout begin (check only)",
        stores.failed_logins.begin_attempt(&ip, 50, false)
    );
    let nobody = LockoutKey::user("nobody");
    call!("lockout forgive", stores.failed_logins.forgive(&nobody));
    call!("lockout reset", stores.failed_logins.reset(&nobody));
    call!(
        "budget begin",
        stores
            .failed_logins
            .begin_challenge(&secrets.username, BUDGET)
    );
    call!(
        "budget passed",
        stores
            .failed_logins
            .challenge_passed(&secrets.username, BUDGET)
    );
    let q = [quota("203.0.113.52", 3), quota("all", 1000)];
    call!("quota reserve", stores.quotas.reserve(&q));
    call!("quota give_back", stores.quotas.give_back(&q));
    // Takes and removals of other records, so that the census still sees the keys above.
    let other = transaction(Duration::from_secs(60));
    call!("transaction take", stores.transactions.take(&other.id));
    let other_ar = digest(&random_token());
    call!("authorize take", stores.authorize_requests.take(&other_ar));
    let other_session = digest(&random_token());
    call!("session remove", stores.sessions.remove(&other_session));
    let other_grant = random_token();
    call!("grant revoke", stores.grants.revoke(&other_grant));
    call!("health check", stores.health.check());
    out
}

/// The raw secrets [`every_call_once`] uses; none may appear in a Redis key or value.
pub struct Secrets {
    pub authorize_request_id: String,
    pub transaction: LoginTransaction,
    pub session_handle: String,
    pub code: String,
    pub refresh_token: String,
    pub next_refresh_token: String,
    pub username: String,
}

impl Secrets {
    pub fn new() -> Self {
        Self {
            authorize_request_id: random_token(),
            transaction: transaction(Duration::from_secs(600)),
            session_handle: random_token(),
            code: random_token(),
            refresh_token: random_token(),
            next_refresh_token: random_token(),
            username: format!("Ivan{}", &random_token()[..8]),
        }
    }

    /// The values that must never be stored in the clear.
    pub fn raw(&self) -> Vec<String> {
        vec![
            self.authorize_request_id.clone(),
            self.transaction.id.as_str().to_owned(),
            self.session_handle.clone(),
            self.code.clone(),
            self.refresh_token.clone(),
            self.next_refresh_token.clone(),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// A subject's sessions and grants (the "Your sessions" page).

fn session_of(subject: &str, created: i64) -> Session {
    Session {
        subject: subject.into(),
        ..session(created)
    }
}

fn sids(sessions: &[Session]) -> Vec<String> {
    sessions.iter().map(|s| s.sid.clone()).collect()
}

pub async fn a_subjects_sessions_are_listed_newest_first_and_no_one_elses(stores: &Stores) {
    let t = now();
    let older = session_of("alice", t - 20);
    let newer = session_of("alice", t - 10);
    let bobs = session_of("bob", t - 5);
    for s in [&older, &newer, &bobs] {
        stores
            .sessions
            .create(&digest(&random_token()), s, t + 1000)
            .await
            .unwrap();
    }
    let listed = stores.sessions.list("alice", t, 100, 1000).await.unwrap();
    assert_eq!(sids(&listed), vec![newer.sid.clone(), older.sid.clone()]);
    let listed = stores.sessions.list("bob", t, 100, 1000).await.unwrap();
    assert_eq!(sids(&listed), vec![bobs.sid.clone()]);
    assert!(
        stores
            .sessions
            .list("carol", t, 100, 1000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_session_replaced_under_its_key_is_listed_once_with_its_new_record(stores: &Stores) {
    let t = now();
    let key = digest(&random_token());
    let mut s = session_of("alice", t);
    stores.sessions.put(&key, &s, t + 1000).await.unwrap();
    s.clients = vec!["web".into()];
    stores.sessions.put(&key, &s, t + 1000).await.unwrap();
    let listed = stores.sessions.list("alice", t, 100, 1000).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].clients, vec!["web".to_owned()]);
}

pub async fn a_session_ended_by_its_sid_is_gone_and_another_subjects_sid_ends_nothing(
    stores: &Stores,
) {
    let t = now();
    let (alice_key, bob_key) = (digest(&random_token()), digest(&random_token()));
    let alices = session_of("alice", t);
    let bobs = session_of("bob", t);
    stores
        .sessions
        .create(&alice_key, &alices, t + 1000)
        .await
        .unwrap();
    stores
        .sessions
        .create(&bob_key, &bobs, t + 1000)
        .await
        .unwrap();

    // Alice names Bob's sid, or none that exists: nothing ends.
    assert_eq!(stores.sessions.end("alice", &bobs.sid).await.unwrap(), None);
    assert_eq!(
        stores.sessions.end("alice", &random_token()).await.unwrap(),
        None
    );
    assert_eq!(stores.sessions.end("alice", "").await.unwrap(), None);
    assert!(
        stores
            .sessions
            .touch(&bob_key, t, 100, 1000)
            .await
            .unwrap()
            .is_some()
    );

    let ended = stores.sessions.end("alice", &alices.sid).await.unwrap();
    assert_eq!(ended.map(|s| s.sid), Some(alices.sid.clone()));
    assert_eq!(
        stores
            .sessions
            .touch(&alice_key, t, 100, 1000)
            .await
            .unwrap(),
        None,
        "an ended session no longer signs its browser in"
    );
    assert!(
        stores
            .sessions
            .list("alice", t, 100, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    // Single use: a second end of the same sid finds nothing.
    assert_eq!(
        stores.sessions.end("alice", &alices.sid).await.unwrap(),
        None
    );
}

pub async fn ending_every_session_of_a_subject_leaves_other_subjects_alone(stores: &Stores) {
    let t = now();
    let mut alice_keys = Vec::new();
    for i in 0..3 {
        let key = digest(&random_token());
        stores
            .sessions
            .create(&key, &session_of("alice", t - i), t + 1000)
            .await
            .unwrap();
        alice_keys.push(key);
    }
    let bob_key = digest(&random_token());
    stores
        .sessions
        .create(&bob_key, &session_of("bob", t), t + 1000)
        .await
        .unwrap();

    let ended = stores.sessions.end_all("alice").await.unwrap();
    assert_eq!(ended.len(), 3);
    assert!(ended.iter().all(|s| s.subject == "alice"));
    for key in &alice_keys {
        assert_eq!(
            stores.sessions.touch(key, t, 100, 1000).await.unwrap(),
            None
        );
    }
    assert!(
        stores
            .sessions
            .list("alice", t, 100, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .sessions
            .touch(&bob_key, t, 100, 1000)
            .await
            .unwrap()
            .is_some()
    );
    assert!(stores.sessions.end_all("alice").await.unwrap().is_empty());
}

pub async fn a_removed_idle_or_expired_session_drops_out_of_its_subjects_list(stores: &Stores) {
    let t = now();
    let removed = digest(&random_token());
    stores
        .sessions
        .create(&removed, &session_of("alice", t), t + 1000)
        .await
        .unwrap();
    stores.sessions.remove(&removed).await.unwrap();
    let idle = session_of("alice", t - 200);
    stores
        .sessions
        .create(&digest(&random_token()), &idle, t + 1000)
        .await
        .unwrap();
    let short = session_of("alice", t);
    stores
        .sessions
        .create(&digest(&random_token()), &short, t + 2)
        .await
        .unwrap();
    // Idle for 200 s with an idle timeout of 100 s: not listed; the short one is.
    let listed = stores.sessions.list("alice", t, 100, 1000).await.unwrap();
    assert_eq!(sids(&listed), vec![short.sid.clone()]);
    tokio::time::sleep(EXPIRED).await;
    assert!(
        stores
            .sessions
            .list("alice", now(), 1000, 1000)
            .await
            .unwrap()
            .iter()
            .all(|s| s.sid != short.sid),
        "a session past its expiry is not listed"
    );
    // Only the idle one is still stored (the touch that would remove it never came): ending
    // every session reports it, not the expired one.
    assert_eq!(
        sids(&stores.sessions.end_all("alice").await.unwrap()),
        vec![idle.sid.clone()]
    );
}

pub async fn past_the_cap_a_new_session_ends_the_least_recently_used_one(stores: &Stores) {
    let cap = identity_server::store::MAX_SESSIONS_PER_SUBJECT;
    let t = now();
    let mut keys = Vec::new();
    let mut all = Vec::new();
    for i in 0..cap {
        let mut s = session_of("alice", t - 500 + i as i64);
        // The 8th oldest sign-in was used least recently.
        s.last_seen = if i == 7 { t - 900 } else { t - 100 + i as i64 };
        let key = digest(&random_token());
        assert!(
            stores
                .sessions
                .create(&key, &s, t + 1000)
                .await
                .unwrap()
                .is_empty(),
            "nothing ends below the cap"
        );
        keys.push(key);
        all.push(s);
    }
    let other = digest(&random_token());
    stores
        .sessions
        .create(&other, &session_of("bob", t), t + 1000)
        .await
        .unwrap();

    let newest = session_of("alice", t);
    let ended = stores
        .sessions
        .create(&digest(&random_token()), &newest, t + 1000)
        .await
        .unwrap();
    assert_eq!(sids(&ended), vec![all[7].sid.clone()]);
    assert_eq!(
        stores
            .sessions
            .touch(&keys[7], t, 2000, 2000)
            .await
            .unwrap(),
        None
    );
    let listed = stores.sessions.list("alice", t, 2000, 2000).await.unwrap();
    assert_eq!(listed.len(), cap);
    assert_eq!(listed[0].sid, newest.sid);
    assert!(listed.iter().all(|s| s.sid != all[7].sid));
    // Another subject's session is not counted.
    assert!(
        stores
            .sessions
            .touch(&other, t, 100, 1000)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn of_twenty_concurrent_sign_ins_at_the_cap_the_subject_keeps_exactly_the_cap(
    stores: &Stores,
) {
    let cap = identity_server::store::MAX_SESSIONS_PER_SUBJECT;
    let t = now();
    let before = cap - RACERS / 2;
    for i in 0..before {
        stores
            .sessions
            .create(
                &digest(&random_token()),
                &session_of("alice", t - 100 + i as i64),
                t + 1000,
            )
            .await
            .unwrap();
    }
    let answers = race(stores, move |stores, _| async move {
        stores
            .sessions
            .create(&digest(&random_token()), &session_of("alice", t), t + 1000)
            .await
    })
    .await;
    let ended: usize = answers
        .into_iter()
        .map(|a| a.expect("a sign-in failed").len())
        .sum();
    assert_eq!(ended, before + RACERS - cap);
    let listed = stores.sessions.list("alice", t, 2000, 2000).await.unwrap();
    assert_eq!(listed.len(), cap);
}

fn grant_of(subject: &str, sid: &str, expires_at: i64) -> Grant {
    Grant {
        subject: subject.into(),
        sid: sid.into(),
        ..grant(&digest(&random_token()), expires_at)
    }
}

pub async fn revoking_a_subjects_grants_reaches_all_of_theirs_or_one_sessions_only(
    stores: &Stores,
) {
    let t = now();
    let (one, two) = (random_token(), random_token());
    let a1 = grant_of("alice", &one, t + 3600);
    let a2 = grant_of("alice", &one, t + 3600);
    let a3 = grant_of("alice", &two, t + 3600);
    let b1 = grant_of("bob", &one, t + 3600);
    for g in [&a1, &a2, &a3, &b1] {
        assert!(stores.grants.create(g).await.unwrap());
    }
    let active = |id: String| {
        let stores = stores.clone();
        async move {
            identity_server::store::grant_is_active(stores.grants.as_ref(), &id, now())
                .await
                .unwrap()
        }
    };

    // One session: only its grants, only the subject's (Bob's grant names the same sid).
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("alice", Some(&one))
            .await
            .unwrap(),
        2
    );
    assert!(!active(a1.id.clone()).await);
    assert!(!active(a2.id.clone()).await);
    assert!(active(a3.id.clone()).await);
    assert!(active(b1.id.clone()).await);
    assert_eq!(
        stores
            .grants
            .rotate(
                a1.refresh_hash.as_deref().unwrap(),
                &digest(&random_token()),
                t,
                0
            )
            .await
            .unwrap(),
        RefreshUse::Invalid,
        "a revoked grant's refresh token is refused"
    );

    // Every session: the rest of the subject's, not Bob's.
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("alice", None)
            .await
            .unwrap(),
        1
    );
    assert!(!active(a3.id.clone()).await);
    assert!(active(b1.id.clone()).await);
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("alice", None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("nobody", None)
            .await
            .unwrap(),
        0
    );
}

pub async fn past_the_cap_a_new_grant_revokes_the_subjects_oldest(stores: &Stores) {
    let cap = identity_server::store::MAX_GRANTS_PER_SUBJECT;
    let t = now();
    let mut grants = Vec::new();
    for i in 0..cap {
        let g = grant_of("alice", "s", t + 3600 + i as i64);
        assert!(stores.grants.create(&g).await.unwrap());
        grants.push(g);
    }
    let bobs = grant_of("bob", "s", t + 3000);
    assert!(stores.grants.create(&bobs).await.unwrap());
    let active = |id: &str| {
        let (stores, id) = (stores.clone(), id.to_owned());
        async move {
            identity_server::store::grant_is_active(stores.grants.as_ref(), &id, now())
                .await
                .unwrap()
        }
    };
    assert!(active(&grants[0].id).await);

    let newest = grant_of("alice", "s", t + 7200);
    assert!(stores.grants.create(&newest).await.unwrap());
    assert!(!active(&grants[0].id).await, "the oldest grant is revoked");
    assert!(active(&grants[1].id).await);
    assert!(active(&newest.id).await);
    assert!(
        active(&bobs.id).await,
        "another subject's grant is not counted"
    );
    // Every other grant is still reached by "sign out everywhere".
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("alice", None)
            .await
            .unwrap(),
        cap
    );
}
