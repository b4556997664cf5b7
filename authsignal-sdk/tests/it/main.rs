//! Integration tests of the Authsignal SDK against a mock server.
