//! The store conformance suite: one generic suite ([`behaviour`]) run against every backend —
//! the embedded database (in memory) and a real `redis-server` started by the test
//! (`redis-testkit`; a missing Redis skips loudly, or fails with `REDIS_REQUIRED=1`) — plus the
//! checks only Redis needs ([`redis_specific`]: outages, TTLs and prefixes, no raw secret in a key).

mod behaviour;
mod embedded_specific;
mod redis_specific;

use identity_server::configuration::StoreSettings;
use identity_server::domain::Secret;
use identity_server::store::rules::LockoutPolicy;
use identity_server::store::{self, Stores};
use redis_testkit::RedisServer;

/// The lockout durations most behaviours run with.
const POLICY: LockoutPolicy = LockoutPolicy {
    window_secs: 900,
    lockout_secs: 900,
};

/// Window and lockout of [`SHORT_POLICY`], in seconds.
const SHORT_SECS: i64 = 2;

/// Short lockout durations, for the behaviour that waits for a lockout to end.
const SHORT_POLICY: LockoutPolicy = LockoutPolicy {
    window_secs: SHORT_SECS,
    lockout_secs: SHORT_SECS,
};

/// The stores under test, and what keeps their backend alive.
struct Backend {
    stores: Stores,
    _redis: Option<RedisServer>,
}

impl Backend {
    async fn embedded(policy: LockoutPolicy) -> Self {
        let stores =
            store::embedded::open(None, policy, store::embedded::EmbeddedLimits::default())
                .await
                .expect("the in-memory embedded database opens");
        Self {
            stores,
            _redis: None,
        }
    }

    /// `None` (after a loud line on stderr) when `redis-server` is not installed and
    /// `REDIS_REQUIRED` is not set.
    async fn redis(policy: LockoutPolicy) -> Option<Self> {
        let server = RedisServer::require()?;
        let stores = open_redis(&server, "idsrv:v1:", 2000, policy).await;
        Some(Self {
            stores,
            _redis: Some(server),
        })
    }
}

/// The Redis stores on `server` with `prefix` and a deadline of `timeout_ms` per call.
async fn open_redis(
    server: &RedisServer,
    prefix: &str,
    timeout_ms: u64,
    policy: LockoutPolicy,
) -> Stores {
    let settings = store_settings(server.url(), prefix, timeout_ms);
    store::redis::open(&settings, policy, "")
        .await
        .expect("the redis stores open")
}

/// Store settings for the Redis at `url`.
fn store_settings(url: String, prefix: &str, timeout_ms: u64) -> StoreSettings {
    StoreSettings {
        url: Some(Secret::new(url)),
        prefix: prefix.to_owned(),
        timeout_ms,
        ..StoreSettings::default()
    }
}

/// One test per behaviour and backend: `store::embedded::<behaviour>` and
/// `store::on_redis::<behaviour>`.
macro_rules! conformance {
    ($($name:ident: $policy:expr;)*) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let backend = super::Backend::embedded($policy).await;
                    super::behaviour::$name(&backend.stores).await;
                }
            )*
        }

        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(backend) = super::Backend::redis($policy).await else {
                        return;
                    };
                    super::behaviour::$name(&backend.stores).await;
                }
            )*
        }
    };
}

conformance! {
    a_grant_revoked_before_it_is_created_is_never_created: super::POLICY;
    a_code_is_redeemed_by_exactly_one_of_twenty_concurrent_callers: super::POLICY;
    a_reused_code_reports_the_grant_its_first_redemption_created: super::POLICY;
    a_session_holds_at_most_its_cap_of_unredeemed_codes: super::POLICY;
    a_code_is_forgotten_once_its_reuse_memory_has_passed: super::POLICY;
    a_refresh_token_rotates_for_exactly_one_of_twenty_concurrent_callers: super::POLICY;
    a_rotated_away_refresh_token_revokes_its_grant: super::POLICY;
    the_previous_refresh_token_rotates_again_within_the_reuse_interval_only: super::POLICY;
    an_expired_or_revoked_grant_does_not_rotate: super::POLICY;
    a_grant_is_gone_once_it_expires: super::POLICY;
    a_login_transaction_is_taken_by_exactly_one_of_twenty_concurrent_callers: super::POLICY;
    a_login_transaction_is_gone_once_it_expires: super::POLICY;
    a_step_up_transaction_keeps_the_session_and_authorize_request_it_is_bound_to: super::POLICY;
    an_authorize_request_is_taken_by_exactly_one_of_twenty_concurrent_callers: super::POLICY;
    a_network_holds_at_most_its_cap_of_pending_authorize_requests: super::POLICY;
    an_authorize_request_is_gone_once_it_expires: super::POLICY;
    a_session_ends_after_its_idle_timeout_counted_from_its_last_use: super::POLICY;
    a_session_ends_at_its_absolute_timeout_however_often_it_is_used: super::POLICY;
    a_removed_session_is_gone: super::POLICY;
    a_session_put_again_under_its_key_replaces_the_record_with_its_clients: super::POLICY;
    a_session_ended_meanwhile_is_never_written_back_by_a_replace: super::POLICY;
    an_access_token_record_is_kept_until_it_expires_and_can_be_revoked: super::POLICY;
    of_twenty_concurrent_creations_of_one_username_exactly_one_succeeds: super::POLICY;
    an_account_is_found_by_subject_and_lowercased_username_and_its_subject_is_unique: super::POLICY;
    of_twenty_concurrent_password_checks_at_most_the_maximum_are_reserved: super::POLICY;
    a_check_only_attempt_reserves_nothing: super::POLICY;
    a_forgiven_attempt_frees_its_reservation_and_a_reset_forgets_failures: super::POLICY;
    a_lockout_ends_after_its_duration: super::SHORT_POLICY;
    of_twenty_concurrent_challenges_at_most_the_budget_start: super::POLICY;
    a_passed_challenge_is_forgiven_and_ends_the_block_it_began: super::POLICY;
    waiting_out_a_block_does_not_refill_the_budget_and_the_next_block_is_longer: super::POLICY;
    a_quota_reservation_counts_every_key_or_none: super::POLICY;
    of_twenty_concurrent_quota_reservations_exactly_the_maximum_succeed: super::POLICY;
    a_quota_window_starts_again_once_it_is_over: super::POLICY;
    a_reachable_backend_reports_healthy: super::POLICY;
    a_subjects_sessions_are_listed_newest_first_and_no_one_elses: super::POLICY;
    a_session_replaced_under_its_key_is_listed_once_with_its_new_record: super::POLICY;
    a_session_ended_by_its_sid_is_gone_and_another_subjects_sid_ends_nothing: super::POLICY;
    ending_every_session_of_a_subject_leaves_other_subjects_alone: super::POLICY;
    a_removed_idle_or_expired_session_drops_out_of_its_subjects_list: super::POLICY;
    past_the_cap_a_new_session_ends_the_least_recently_used_one: super::POLICY;
    of_twenty_concurrent_sign_ins_at_the_cap_the_subject_keeps_exactly_the_cap: super::POLICY;
    revoking_a_subjects_grants_reaches_all_of_theirs_or_one_sessions_only: super::POLICY;
    past_the_cap_a_new_grant_revokes_the_subjects_oldest: super::POLICY;
}
