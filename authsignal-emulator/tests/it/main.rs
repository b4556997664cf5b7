//! Integration tests: the emulator started on port 0 with fresh state per test, driven over
//! HTTPS by the SDK, by raw HTTP (API contract) and by a cookie-keeping client (hosted pages).

mod api;
mod helpers;
mod hosting;
mod limits;
mod not_me;
mod pages;
mod passkeys;
mod persistence;
mod sdk;
mod webhooks;
