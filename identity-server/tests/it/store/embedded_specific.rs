//! What only the embedded backend does: indexing the sessions and grants of a database written
//! before the subject indexes existed.

use identity_server::oidc::{now, random_token};
use identity_server::store::{self, digest, grant_is_active};
use redb::{Database, TableDefinition};

use super::POLICY;
use super::behaviour::{grant, session};

const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");

/// A record as the embedded store keeps it: the expiry (8 bytes, big endian), then the JSON.
fn record(exp: i64, json: &serde_json::Value) -> Vec<u8> {
    let mut out = u64::try_from(exp).unwrap().to_be_bytes().to_vec();
    out.extend(serde_json::to_vec(json).unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_grants_of_an_earlier_version_are_indexed_when_the_database_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::embedded::FILE_NAME);
    let t = now();
    let mut old_session = serde_json::to_value(session(t)).unwrap();
    // Written before sessions recorded their device: the field is absent.
    old_session.as_object_mut().unwrap().remove("device");
    let sid = old_session["sid"].as_str().unwrap().to_owned();
    let old_grant = grant(&digest(&random_token()), t + 3600);
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(SESSIONS)
            .unwrap()
            .insert(
                digest(&random_token()).as_str(),
                record(t + 1000, &old_session).as_slice(),
            )
            .unwrap();
        txn.open_table(GRANTS)
            .unwrap()
            .insert(
                old_grant.id.as_str(),
                record(t + 3600, &serde_json::to_value(&old_grant).unwrap()).as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }

    let stores = store::embedded::open(
        Some(&path),
        POLICY,
        store::embedded::EmbeddedLimits::default(),
    )
    .await
    .expect("the database of an earlier version opens");
    let listed = stores
        .sessions
        .list("subject-1", t, 100, 1000)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sid, sid);
    assert!(
        listed[0].device.is_empty(),
        "an absent device loads as empty"
    );
    assert_eq!(
        stores
            .grants
            .revoke_for_subject("subject-1", None)
            .await
            .unwrap(),
        1
    );
    assert!(
        !grant_is_active(stores.grants.as_ref(), &old_grant.id, now())
            .await
            .unwrap()
    );
    assert_eq!(stores.sessions.end_all("subject-1").await.unwrap().len(), 1);
}
