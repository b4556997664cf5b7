//! Chromium's virtual WebAuthn authenticator (the CDP `WebAuthn` domain): a platform
//! authenticator (CTAP 2, internal transport) with resident keys and user verification, attached
//! to one tab. With a resident credential stored and presence simulation on, a conditional
//! (autofill) request resolves by itself; with none it rejects at once; with presence simulation
//! off it stays pending, like a person who never picks the passkey (shared/reference/passkeys.md §4).

use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddVirtualAuthenticatorParams, AuthenticatorId, AuthenticatorProtocol, AuthenticatorTransport,
    Credential, EnableParams, GetCredentialsParams, SetAutomaticPresenceSimulationParams,
    SetUserVerifiedParams, VirtualAuthenticatorOptions,
};

use super::chrome::Chrome;

/// A virtual authenticator of a tab.
#[derive(Debug, Clone)]
pub struct VirtualAuthenticator {
    id: AuthenticatorId,
}

impl VirtualAuthenticator {
    /// Enables the domain (without its UI) and adds a ctap2/internal/resident/UV authenticator
    /// whose user is verified and present.
    pub async fn attach(chrome: &Chrome) -> VirtualAuthenticator {
        let page = chrome.page();
        page.execute(EnableParams::builder().enable_ui(false).build())
            .await
            .expect("WebAuthn.enable");
        let options = VirtualAuthenticatorOptions::builder()
            .protocol(AuthenticatorProtocol::Ctap2)
            .transport(AuthenticatorTransport::Internal)
            .has_resident_key(true)
            .has_user_verification(true)
            .is_user_verified(true)
            .automatic_presence_simulation(true)
            .build()
            .expect("authenticator options");
        let id = page
            .execute(AddVirtualAuthenticatorParams::new(options))
            .await
            .expect("WebAuthn.addVirtualAuthenticator")
            .result
            .authenticator_id;
        VirtualAuthenticator { id }
    }

    /// The credentials it holds.
    pub async fn credentials(&self, chrome: &Chrome) -> Vec<Credential> {
        chrome
            .page()
            .execute(GetCredentialsParams::new(self.id.clone()))
            .await
            .expect("WebAuthn.getCredentials")
            .result
            .credentials
    }

    /// Whether the authenticator answers requests by itself (a person picking the passkey).
    pub async fn set_presence(&self, chrome: &Chrome, on: bool) {
        chrome
            .page()
            .execute(SetAutomaticPresenceSimulationParams::new(
                self.id.clone(),
                on,
            ))
            .await
            .expect("WebAuthn.setAutomaticPresenceSimulation");
    }

    /// Whether user verification (PIN, biometrics) succeeds.
    pub async fn set_user_verified(&self, chrome: &Chrome, verified: bool) {
        chrome
            .page()
            .execute(SetUserVerifiedParams::new(self.id.clone(), verified))
            .await
            .expect("WebAuthn.setUserVerified");
    }
}
