//! `identity-server`: serves the OpenID Connect provider; `identity-server rotate-key` adds a
//! new signing key (see `identity_server::keys`).

use identity_server::configuration::Settings;
use identity_server::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    identity_server::telemetry::init("info");
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("rotate-key") {
        let kid = identity_server::keys::rotate(
            &settings.data_dir,
            identity_server::oidc::now(),
            3600,
            settings
                .tokens
                .access_token_lifetime_secs
                .max(settings.tokens.id_token_lifetime_secs),
        )?;
        println!("new signing key '{kid}' published now, signing in one hour; restart the server");
        return Ok(());
    }
    let app = Application::build(settings).await?;
    tracing::info!(url = %app.base_url(), "identity server listening");
    app.run_until_stopped().await?;
    Ok(())
}
