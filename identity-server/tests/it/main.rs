//! Integration tests of the identity server: the real application on port 0 over HTTPS.

mod helpers;

mod authorize;
mod backchannel;
mod discovery;
mod durability;
mod endsession;
mod memory;
mod oidc_client;
mod pages;
mod revocation_introspection;
mod store;
mod token;
mod userinfo;

// P2 adds tests/it/account/; enabled once it exists.
// (P2: enabled now that tests/it/account/ exists.)
mod account;
