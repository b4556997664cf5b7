//! `cargo run -p web-client`: the sample relying party on its own (https://localhost:5002).

use web_client::configuration::Settings;
use web_client::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    web_client::telemetry::init("info");
    let settings = Settings::load()?;
    let app = Application::build(settings).await?;
    tracing::info!(url = %app.base_url(), "web client listening");
    app.run_until_stopped().await?;
    Ok(())
}
