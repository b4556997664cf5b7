//! Protocol logic of the emulator as plain functions and types, unit-tested without actix:
//! the decision after `track`, the track token, TOTP, one-time codes, recovery codes, redirects,
//! WebAuthn verification, AAGUID names and user agents of passkeys.

pub mod aaguid;
pub mod action_code;
pub mod challenge_context;
pub mod codes;
pub mod contact;
pub mod decision;
pub mod outcome;
pub mod redirect;
pub mod secret;
pub mod token;
pub mod totp;
pub mod user_agent;
pub mod webauthn;
pub mod webhook;
pub mod words;
