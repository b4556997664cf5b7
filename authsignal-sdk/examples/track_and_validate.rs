//! Tracks a sign-in and, given the token from the redirect, validates it.
//!
//! Against the local emulator (after `cargo run -p authsignal-emulator`):
//!
//! ```sh
//! AUTHSIGNAL_SECRET=dev-emulator-secret-key \
//! AUTHSIGNAL_BASE_URL=https://localhost:5003/v1 \
//! AUTHSIGNAL_CA_PEM=certs/ca.pem \
//!   cargo run -p authsignal-sdk --example track_and_validate -- alice
//! # open the printed URL, complete the challenge, copy `token` from the redirect, then:
//!   cargo run -p authsignal-sdk --example track_and_validate -- alice <token>
//! ```

use authsignal_sdk::{Client, TrackAttributes, UserActionState, ValidateChallengeRequest};

const ACTION: &str = "identity-server-login";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("AUTHSIGNAL_SECRET").map_err(|_| "set AUTHSIGNAL_SECRET")?;
    let mut builder = Client::builder(secret);
    if let Ok(base_url) = std::env::var("AUTHSIGNAL_BASE_URL") {
        builder = builder.base_url(base_url);
    }
    if let Ok(ca) = std::env::var("AUTHSIGNAL_CA_PEM") {
        builder = builder.add_root_certificate_pem(std::fs::read(&ca)?);
    }
    let client = builder.build()?;

    let mut args = std::env::args().skip(1);
    let user_id = args
        .next()
        .ok_or("usage: track_and_validate <user id> [token]")?;
    match args.next() {
        None => {
            let response = client
                .track(
                    &user_id,
                    ACTION,
                    &TrackAttributes {
                        redirect_url: Some("https://localhost:5001/account/login/callback".into()),
                        username: Some(user_id.clone()),
                        ..Default::default()
                    },
                )
                .await?;
            println!("state:           {}", response.state);
            println!("enrolled:        {}", response.is_enrolled);
            println!("idempotency key: {}", response.idempotency_key);
            if response.state == UserActionState::ChallengeRequired || !response.is_enrolled {
                println!("open:            {}", response.url);
            }
        }
        Some(token) => {
            let result = client
                .validate_challenge(&ValidateChallengeRequest {
                    token,
                    user_id: Some(user_id.clone()),
                    action: Some(ACTION.into()),
                })
                .await?;
            let accepted = result.is_valid
                && result.state == Some(UserActionState::ChallengeSucceeded)
                && result.user_id.as_deref() == Some(user_id.as_str())
                && result.action_code() == Some(ACTION);
            println!("valid: {} (state {:?})", accepted, result.state);
        }
    }
    Ok(())
}
