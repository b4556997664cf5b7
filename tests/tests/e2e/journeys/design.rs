//! One product: the identity server, the web client and the emulator serve their own copy of
//! the shared design (no app depends on another for it), and the copies must not drift apart.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_three_apps_serve_the_same_design_and_the_same_icon() {
    let identity_server = read("identity-server/static/design.css");
    for copy in [
        "web-client/static/design.css",
        "authsignal-emulator/src/templates/design.css",
    ] {
        assert!(
            read(copy) == identity_server,
            "{copy} differs from identity-server/static/design.css: copy it over"
        );
    }
    let icon = read("identity-server/static/favicon.svg");
    for copy in [
        "web-client/static/favicon.svg",
        "authsignal-emulator/src/templates/favicon.svg",
    ] {
        assert!(
            read(copy) == icon,
            "{copy} differs from the identity server's icon"
        );
    }
    assert!(
        identity_server.contains("@media (prefers-color-scheme: dark)"),
        "light and dark"
    );
    assert!(
        !identity_server.contains("@import") && !identity_server.contains("url("),
        "system fonts, nothing fetched"
    );
}
