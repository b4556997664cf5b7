//! `cargo run -p authsignal-emulator`: serves https://localhost:5003 with the dev certificate.

use authsignal_emulator::configuration::{Cli, DEV_SECRET, Settings};
use authsignal_emulator::startup::Application;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    authsignal_emulator::telemetry::init("info");
    let settings = Cli::parse().apply(Settings::load()?)?;
    let dev_secret = settings.secret.expose() == DEV_SECRET;
    let app = Application::build(settings).await?;
    println!("Authsignal emulator on {}", app.base_url());
    println!("  Server API: {}", app.api_url());
    println!(
        "  Secret:     {}",
        if dev_secret {
            DEV_SECRET
        } else {
            "(configured)"
        }
    );
    println!("  Dev outbox: {}/dev/outbox", app.base_url());
    app.run_until_stopped().await?;
    Ok(())
}
