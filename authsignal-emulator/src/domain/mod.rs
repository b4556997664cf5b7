//! Protocol logic of the emulator as plain functions and types, unit-tested without actix:
//! the decision after `track`, the track token, TOTP, one-time codes, recovery codes, redirects.

pub mod action_code;
pub mod codes;
pub mod contact;
pub mod decision;
pub mod outcome;
pub mod redirect;
pub mod secret;
pub mod token;
pub mod totp;
pub mod webhook;
pub mod words;
