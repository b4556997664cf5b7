//! In-memory stores for short-lived state: hosted sessions, the outbox, Server API challenges
//! and sessions. Lost on restart by design (they expire within minutes anyway).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::*;

/// The outbox keeps the most recent messages only, so a long-running emulator stays bounded.
const OUTBOX_LIMIT: usize = 1000;
/// Bound on live hosted sessions (oldest-expiring dropped first).
const HOSTED_SESSION_LIMIT: usize = 10_000;

#[derive(Default)]
struct State {
    hosted: HashMap<String, HostedSession>,
    outbox: Vec<OutboxMessage>,
    challenges: HashMap<String, ServerChallenge>,
    sessions: HashMap<String, SessionRecord>,
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
