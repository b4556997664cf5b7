//! `cargo run` at the workspace root: the emulator, the identity server and the web client in
//! one process (see the crate docs in `lib.rs`).

#[actix_web::main]
async fn main() {
    if let Err(e) = demo::run().await {
        // The cause chain, not a backtrace: start-up errors are for people (port in use, ...).
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
