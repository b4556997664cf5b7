//! Integration tests: the emulator started on port 0 with fresh state per test, driven over
//! HTTPS by the SDK, by raw HTTP (API contract), by a cookie-keeping client (hosted pages) and
//! by the official Python SDK's own suite (`official_sdks`).

mod api;
mod helpers;
mod hosting;
mod limits;
mod not_me;
mod official_sdks;
mod pages;
mod passkeys;
mod persistence;
mod sdk;
mod webhooks;
