//! In-memory stores for short-lived state: hosted sessions, the outbox, Server API challenges
//! and sessions. Lost on restart by design (they expire within minutes anyway).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::*;

/// The outbox keeps the most recent messages only, so a long-running emulator stays bounded.
const OUTBOX_LIMIT: usize = 1000;
/// The notices kept, newest (bounded like the codes).
const NOTICE_LIMIT: usize = 1000;
/// Bound on live hosted sessions (oldest-expiring dropped first).
const HOSTED_SESSION_LIMIT: usize = 10_000;
/// Bound on live passkey challenges (oldest-expiring dropped first): anonymous callers can
/// make them, so memory must not grow with their number.
pub const PASSKEY_CHALLENGE_LIMIT: usize = 10_000;

#[derive(Default)]
struct State {
    hosted: HashMap<String, HostedSession>,
    outbox: Vec<OutboxMessage>,
    notices: Vec<OutboxNotice>,
    challenges: HashMap<String, ServerChallenge>,
    sessions: HashMap<String, SessionRecord>,
    passkey_challenges: HashMap<String, PasskeyChallenge>,
}

/// Hosted sessions, outbox, challenges, sessions.
#[derive(Default)]
pub struct EphemeralStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for EphemeralStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralStore").finish_non_exhaustive()
    }
}

impl EphemeralStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl HostedSessionStore for EphemeralStore {
    fn create_session(&self, session: HostedSession) {
        let mut state = self.lock();
        let now = Utc::now();
        state.hosted.retain(|_, s| s.expires_at > now);
        if state.hosted.len() >= HOSTED_SESSION_LIMIT
            && let Some(oldest) = state
                .hosted
                .values()
                .min_by_key(|s| s.expires_at)
                .map(|s| s.id.clone())
        {
            state.hosted.remove(&oldest);
        }
        state.hosted.insert(session.id.clone(), session);
    }

    fn get_session(&self, id: &str, now: DateTime<Utc>) -> Option<HostedSession> {
        self.lock()
            .hosted
            .get(id)
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    fn update_session(
        &self,
        id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut HostedSession),
    ) -> Option<HostedSession> {
        let mut state = self.lock();
        let session = state.hosted.get_mut(id).filter(|s| s.expires_at > now)?;
        update(session);
        Some(session.clone())
    }

    fn delete_session(&self, id: &str) {
        self.lock().hosted.remove(id);
    }
}

impl OutboxStore for EphemeralStore {
    fn push_message(&self, message: OutboxMessage) {
        let mut state = self.lock();
        if state.outbox.len() >= OUTBOX_LIMIT {
            state.outbox.remove(0);
        }
        state.outbox.push(message);
    }

    fn messages(&self) -> Vec<OutboxMessage> {
        self.lock().outbox.clone()
    }

    fn push_notice(&self, notice: OutboxNotice) {
        let mut state = self.lock();
        if state.notices.len() >= NOTICE_LIMIT {
            state.notices.remove(0);
        }
        state.notices.push(notice);
    }

    fn notices(&self) -> Vec<OutboxNotice> {
        self.lock().notices.clone()
    }
}

impl ChallengeStore for EphemeralStore {
    fn insert_challenge(&self, challenge: ServerChallenge) {
        let mut state = self.lock();
        let now = Utc::now();
        // Challenges live 10 minutes; keep them a while longer for `GET /challenges`.
        state
            .challenges
            .retain(|_, c| c.expires_at + chrono::Duration::hours(1) > now);
        state
            .challenges
            .insert(challenge.challenge_id.clone(), challenge);
    }

    fn get_challenge(&self, id: &str) -> Option<ServerChallenge> {
        self.lock().challenges.get(id).cloned()
    }

    fn update_challenge(
        &self,
        id: &str,
        update: &mut dyn FnMut(&mut ServerChallenge),
    ) -> Option<ServerChallenge> {
        let mut state = self.lock();
        let challenge = state.challenges.get_mut(id)?;
        update(challenge);
        Some(challenge.clone())
    }

    fn list_challenges(&self) -> Vec<ServerChallenge> {
        self.lock().challenges.values().cloned().collect()
    }
}

impl PasskeyChallengeStore for EphemeralStore {
    fn insert_passkey_challenge(&self, challenge: PasskeyChallenge) {
        let mut state = self.lock();
        let now = Utc::now();
        state.passkey_challenges.retain(|_, c| c.expires_at > now);
        if state.passkey_challenges.len() >= PASSKEY_CHALLENGE_LIMIT
            && let Some(oldest) = state
                .passkey_challenges
                .values()
                .min_by_key(|c| c.expires_at)
                .map(|c| c.challenge_id.clone())
        {
            state.passkey_challenges.remove(&oldest);
        }
        state
            .passkey_challenges
            .insert(challenge.challenge_id.clone(), challenge);
    }

    fn update_passkey_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut PasskeyChallenge),
    ) -> Option<PasskeyChallenge> {
        let mut state = self.lock();
        let challenge = state
            .passkey_challenges
            .get_mut(id)
            .filter(|c| c.expires_at > now)?;
        update(challenge);
        Some(challenge.clone())
    }

    fn take_passkey_challenge(&self, id: &str) -> Option<PasskeyChallenge> {
        self.lock().passkey_challenges.remove(id)
    }
}

impl SessionStore for EphemeralStore {
    fn insert_auth_session(&self, session: SessionRecord) {
        self.lock().sessions.insert(session.jti.clone(), session);
    }

    fn get_auth_session(&self, jti: &str) -> Option<SessionRecord> {
        self.lock().sessions.get(jti).cloned()
    }

    fn take_by_refresh_hash(&self, refresh_hash: &str) -> Option<SessionRecord> {
        let mut state = self.lock();
        let session = state.sessions.values_mut().find(|s| {
            !s.revoked && crate::domain::secret::ct_eq_str(&s.refresh_hash, refresh_hash)
        })?;
        session.revoked = true;
        Some(session.clone())
    }

    fn revoke_auth_session(&self, jti: &str) -> bool {
        match self.lock().sessions.get_mut(jti) {
            Some(s) => {
                s.revoked = true;
                true
            }
            None => false,
        }
    }

    fn revoke_user_auth_sessions(&self, user_id: &str) -> usize {
        let mut state = self.lock();
        let mut count = 0;
        for session in state.sessions.values_mut().filter(|s| s.user_id == user_id) {
            session.revoked = true;
            count += 1;
        }
        count
    }
}

impl Reset for EphemeralStore {
    fn clear(&self) -> StoreResult<()> {
        *self.lock() = State::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(id: &str, expires_in: i64) -> PasskeyChallenge {
        PasskeyChallenge {
            challenge_id: id.into(),
            ceremony: PasskeyCeremony::Authentication,
            challenge: None,
            action_code: "a".into(),
            idempotency_key: "k".into(),
            user_id: None,
            scope: String::new(),
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
        }
    }

    #[test]
    fn a_passkey_challenge_is_taken_once() {
        let store = EphemeralStore::default();
        store.insert_passkey_challenge(challenge("c1", 60));
        assert!(store.take_passkey_challenge("c1").is_some());
        assert!(store.take_passkey_challenge("c1").is_none());
    }

    #[test]
    fn an_expired_passkey_challenge_cannot_be_updated() {
        let store = EphemeralStore::default();
        store.insert_passkey_challenge(challenge("c1", -1));
        assert!(
            store
                .update_passkey_challenge("c1", Utc::now(), &mut |_| {})
                .is_none()
        );
    }

    #[test]
    fn passkey_challenges_are_bounded() {
        let store = EphemeralStore::default();
        for n in 0..PASSKEY_CHALLENGE_LIMIT + 5 {
            store.insert_passkey_challenge(challenge(&format!("c{n}"), 60 + n as i64));
        }
        assert_eq!(
            store.lock().passkey_challenges.len(),
            PASSKEY_CHALLENGE_LIMIT
        );
        // The oldest-expiring went first.
        assert!(store.take_passkey_challenge("c0").is_none());
        assert!(
            store
                .take_passkey_challenge(&format!("c{}", PASSKEY_CHALLENGE_LIMIT + 4))
                .is_some()
        );
    }
}
