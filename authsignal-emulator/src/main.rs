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
    if app.dev_mode() {
        println!(
            "  Dev outbox: {}/dev/outbox  (DEVELOPMENT MODE: live one-time codes for anyone who reaches this port)",
            app.base_url()
        );
    } else {
        println!(
            "  Dev outbox: off (development mode only: EMULATOR__DEV_MODE=true or --dev-mode)"
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}
