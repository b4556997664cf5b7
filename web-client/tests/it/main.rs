//! Integration tests of the web client against a mock OpenID Connect provider, over HTTPS.

mod backchannel;
mod discovery;
mod helpers;
mod mock_provider;
mod persistence;
mod refusals;
mod replicas;
mod sensitive;
mod session;
mod signin;
mod signout;
mod store;
mod userinfo;
