//! Integration tests of the identity server.

// P2 adds tests/it/account/; enabled once it exists.
// mod account;
