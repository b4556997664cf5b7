//! `identity-server`: serves the OpenID Connect provider; `identity-server rotate-key` adds a
//! new signing key (see `identity_server::keys`); `identity-server migrate-data` moves accounts
//! and grants of the old journal files into the embedded database (see
//! `identity_server::store::migrate`).

use identity_server::configuration::Settings;
use identity_server::startup::Application;

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads: the arena limit binds only threads that have not
    // allocated yet (see `identity_server::allocator`).
    let tuned = identity_server::allocator::tune();
    run(tuned)
}

#[tokio::main]
async fn run(allocator_tuned: bool) -> anyhow::Result<()> {
    identity_server::telemetry::init("info");
    tracing::debug!(allocator_tuned, "malloc arenas and thresholds");
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
    if std::env::args().nth(1).as_deref() == Some("migrate-data") {
        return migrate_data(&settings).await;
    }
    let app = Application::build(settings).await?;
    // Optional: without it freed memory is given back later, not never.
    if let Err(e) = identity_server::allocator::spawn_trimmer() {
        tracing::warn!(error = %e, "cannot start the memory-trim thread; going on without it");
    }
    tracing::info!(url = %app.base_url(), "identity server listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate_data(settings: &Settings) -> anyhow::Result<()> {
    use identity_server::store::{embedded, migrate};
    if settings.store.redis_url().is_some() {
        anyhow::bail!("migrate-data moves old files into the embedded database; store.url is set");
    }
    let dir = &settings.data_dir;
    let db = embedded::open_embedded(
        Some(&dir.join(embedded::FILE_NAME)),
        settings.account.lockout.policy(),
        embedded::EmbeddedLimits::default(),
    )
    .await?;
    match migrate::migrate(dir, &db, identity_server::oidc::now()).await? {
        None => println!("nothing to migrate in '{}'", dir.display()),
        Some(report) => {
            for torn in &report.torn {
                println!("skipped a torn last line (never acknowledged) of '{torn}'");
            }
            println!(
                "migrated {} accounts and {} grants into '{}'; the old files are renamed to *.migrated",
                report.users,
                report.grants,
                dir.join(embedded::FILE_NAME).display()
            );
        }
    }
    Ok(())
}
