//! Development TLS material shared by every app in the workspace.
//!
//! One development CA signs one `localhost` server certificate. The apps serve with that
//! certificate, and every back-channel client (SDK -> emulator, web client -> identity server)
//! trusts that CA explicitly: nothing in this workspace accepts "any certificate".
//!
//! - [`TlsMaterial::load_or_generate`] keeps the CA and the leaf in a directory (`certs/` by
//!   default), generating what is missing on first run. Private keys are written `0600` and are
//!   git-ignored.
//! - [`TlsMaterial::load`] uses your own certificate, key and CA files instead.
//! - [`TlsMaterial::generate_ephemeral`] makes a fresh CA in memory (tests: one per run).
//!
//! Generating and loading the certificates lives here only; apps, `demo` and `tests` call it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use durable_file::Access;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Subject alternative names of the generated `localhost` certificate: the loopback names and
/// the docker-compose service names.
pub const DEFAULT_SANS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "identity-server",
    "web-client",
    "authsignal-emulator",
];

/// File names inside the certificate directory.
pub const CA_CERT_FILE: &str = "dev-ca.pem";
/// The CA private key (never committed).
pub const CA_KEY_FILE: &str = "dev-ca.key";
/// The server certificate chain (leaf first, then the CA).
pub const CERT_FILE: &str = "localhost.pem";
/// The server private key (never committed).
pub const KEY_FILE: &str = "localhost.key";

const CA_COMMON_NAME: &str = "Authsignal MFA Rust development CA";
const CA_ORGANIZATION: &str = "authsignal-mfa-rust (development only)";

/// What can go wrong while generating or loading TLS material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("certificate file '{path}': {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file did not contain what was expected.
    #[error("'{path}' holds no valid {what}")]
    Pem {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// rustls refused the certificate or key.
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// A CA certificate plus a server certificate chain and its private key, all PEM.
#[derive(Clone)]
pub struct TlsMaterial {
    ca_pem: String,
    cert_chain_pem: String,
    key_pem: String,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field(
                "cert_chain_pem",
                &format_args!("<{} bytes>", self.cert_chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsMaterial {
    /// Loads the development CA and `localhost` certificate from `dir`, generating whatever is
    /// missing: a new CA when there is none, a new leaf signed by the CA when the leaf is missing.
    pub fn load_or_generate(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.into(),
            source,
        })?;
        let ca_cert = dir.join(CA_CERT_FILE);
        let ca_key = dir.join(CA_KEY_FILE);
        let cert = dir.join(CERT_FILE);
        let key = dir.join(KEY_FILE);

        let ca_exists = ca_cert.exists() && ca_key.exists();
        if !ca_exists {
            let (ca_pem, ca_key_pem) = generate_ca()?;
            write_atomic(&ca_key, ca_key_pem.as_bytes(), true)?;
            write_atomic(&ca_cert, ca_pem.as_bytes(), false)?;
        }
        if !ca_exists || !cert.exists() || !key.exists() {
            let ca_key_pem = read(&ca_key)?;
            let ca_pem = read(&ca_cert)?;
            let (leaf_pem, leaf_key_pem) = generate_leaf(&ca_key_pem, DEFAULT_SANS)?;
            write_atomic(&key, leaf_key_pem.as_bytes(), true)?;
            write_atomic(&cert, format!("{leaf_pem}{ca_pem}").as_bytes(), false)?;
            tracing::info!(dir = %dir.display(), "generated development TLS certificates");
        }
        Self::load(&cert, &key, &ca_cert)
    }

    /// Loads a certificate chain, its private key and the CA that clients should trust.
    pub fn load(cert_chain: &Path, key: &Path, ca: &Path) -> Result<Self, Error> {
        let material = Self {
            ca_pem: read(ca)?,
            cert_chain_pem: read(cert_chain)?,
            key_pem: read(key)?,
        };
        material.check(cert_chain, key, ca)?;
        Ok(material)
    }

    /// A fresh CA and `localhost` certificate held in memory only (one per test run).
    pub fn generate_ephemeral() -> Result<Self, Error> {
        let (ca_pem, ca_key_pem) = generate_ca()?;
        let (leaf_pem, key_pem) = generate_leaf(&ca_key_pem, DEFAULT_SANS)?;
        Ok(Self {
            cert_chain_pem: format!("{leaf_pem}{ca_pem}"),
            ca_pem,
            key_pem,
        })
    }

    /// The CA certificate (PEM) that clients should trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate chain (PEM, leaf first).
    pub fn cert_chain_pem(&self) -> &str {
        &self.cert_chain_pem
    }

    /// The server private key (PEM). Handle with care: never log it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The CA as DER, e.g. for a rustls `RootCertStore`.
    pub fn ca_der(&self) -> Result<CertificateDer<'static>, Error> {
        CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).map_err(|_| Error::Pem {
            path: "<memory>".into(),
            what: "CA certificate",
        })
    }

    /// A rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN `h2` and
    /// `http/1.1`) serving this certificate chain.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, Error> {
        let chain = self.chain_der("<memory>".as_ref())?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|_| Error::Pem {
                path: "<memory>".into(),
                what: "private key",
            })?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The base64 SHA-256 of the leaf's SubjectPublicKeyInfo: what Chromium's
    /// `ignore-certificate-errors-spki-list` pins (trusting this one key, not every certificate).
    pub fn leaf_spki_sha256_base64(&self) -> Result<String, Error> {
        let key = KeyPair::from_pem(&self.key_pem)?;
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        Ok(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
    }

    fn chain_der(&self, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Pem {
                path: path.into(),
                what: "certificate chain",
            })?;
        if chain.is_empty() {
            return Err(Error::Pem {
                path: path.into(),
                what: "certificate chain",
            });
        }
        Ok(chain)
    }

    fn check(&self, cert_chain: &Path, key: &Path, ca: &Path) -> Result<(), Error> {
        self.chain_der(cert_chain)?;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|_| Error::Pem {
            path: key.into(),
            what: "private key",
        })?;
        CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).map_err(|_| Error::Pem {
            path: ca.into(),
            what: "CA certificate",
        })?;
        Ok(())
    }
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn generate_ca() -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = ca_params()?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn generate_leaf(ca_key_pem: &str, sans: &[&str]) -> Result<(String, String), rcgen::Error> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    // The issuer is rebuilt from the same distinguished name and key: that is all a signature
    // and the authority key identifier need, so no X.509 parser is compiled in.
    let issuer = Issuer::new(ca_params()?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = sans
        .iter()
        .map(|san| match san.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName((*san).try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    // Browsers refuse server certificates valid for longer than 398 days.
    params.not_after = now + time::Duration::days(397);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

/// Writes through the workspace's one atomic, durable write; `private` files are owner-only.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let access = if private {
        Access::OwnerOnly
    } else {
        Access::Default
    };
    durable_file::write_atomic(path, bytes, access).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_are_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let first = TlsMaterial::load_or_generate(dir.path()).unwrap();
        let second = TlsMaterial::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert_eq!(first.key_pem(), second.key_pem());
    }

    #[test]
    fn a_missing_leaf_is_reissued_by_the_existing_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = TlsMaterial::load_or_generate(dir.path()).unwrap();
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let second = TlsMaterial::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert_ne!(first.key_pem(), second.key_pem());
        second.server_config().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        TlsMaterial::load_or_generate(dir.path()).unwrap();
        for file in [CA_KEY_FILE, KEY_FILE] {
            let mode = fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn debug_output_hides_the_private_key() {
        let material = TlsMaterial::generate_ephemeral().unwrap();
        let debug = format!("{material:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn the_spki_pin_is_a_base64_sha256() {
        let material = TlsMaterial::generate_ephemeral().unwrap();
        let pin = material.leaf_spki_sha256_base64().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(pin)
            .unwrap();
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn a_garbage_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        TlsMaterial::load_or_generate(dir.path()).unwrap();
        fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let err = TlsMaterial::load(
            &dir.path().join(CERT_FILE),
            &dir.path().join(KEY_FILE),
            &dir.path().join(CA_CERT_FILE),
        )
        .unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
    }
}
