//! TLS to the servers (Apache's `secureClientPort`), with rustls: what to trust, which
//! certificate to present, and how a failed handshake is reported.
//!
//! Owns [`TlsOptions`] (the configuration an application gives
//! [`ClientBuilder::tls`](crate::ClientBuilder::tls)), its loading into a rustls client
//! configuration (PEM, PKCS#12 or JKS stores, files or bytes, the system's trust store;
//! decoding Java's stores is `zk-keystore`'s), the handshake on a fresh TCP connection,
//! and the classification of rustls's errors into [`TlsFailure`]. Moving bytes over an
//! established TLS connection is `transport`'s job.
//!
//! Why these crates: rustls needs no OpenSSL; its `ring` provider builds with only a C
//! compiler (the `aws-lc-rs` provider would also need cmake and clang); `tokio-rustls`
//! runs the handshake on a tokio socket; `rustls-pki-types` parses PEM; and
//! `rustls-native-certs` reads the operating system's trust store for
//! [`TlsOptions::with_system_roots`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;

use zk_keystore::StoreType;

use crate::error::{Error, Result};

/// Where a store (a PEM document or a Java store file) comes from.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// Read from this file when the client connects.
    File(PathBuf),
    /// Given in memory.
    Bytes(Vec<u8>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "File({})", path.display()),
            // Never print key material.
            Source::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

impl Source {
    fn load(&self, what: &str) -> Result<Vec<u8>> {
        match self {
            Source::File(path) => std::fs::read(path)
                .map_err(|e| Error::TlsConfig(format!("reading {what} {}: {e}", path.display()))),
            Source::Bytes(bytes) => Ok(bytes.clone()),
        }
    }

    /// What errors call it: `what` and, for a file, its path.
    fn describe(&self, what: &str) -> String {
        match self {
            Source::File(path) => format!("{what} {}", path.display()),
            Source::Bytes(_) => what.to_owned(),
        }
    }
}

/// A store's password: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Which certificate authorities the client trusts to sign a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// The operating system's trust store.
    System,
    /// Every certificate of a PEM bundle.
    Pem(Source),
    /// The trusted certificate entries of a Java store (PKCS#12 or JKS).
    Java(Source, Password, StoreType),
}

/// The certificate chain and key the client presents to servers that ask for one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    /// A PEM chain and a PEM key (possibly the same file); an encrypted key is opened
    /// with [`TlsOptions::client_key_password`].
    Pem { chain: Source, key: Source },
    /// The private key entry of a Java store (PKCS#12 or JKS).
    Java(Source, Password, StoreType),
}

/// TLS settings of a client; give them to [`ClientBuilder::tls`](crate::ClientBuilder::tls).
///
/// The server's certificate is always verified against the trusted roots, and by default
/// also against the host name of the connect string entry being connected to (an IP
/// address there must be an IP address in the certificate's subject alternative names).
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::{Client, TlsOptions};
/// let tls = TlsOptions::with_ca_pem_file("/etc/zk/ca.pem")
///     .client_cert_pem_files("/etc/zk/client.pem", "/etc/zk/client-key.pem");
/// let client = Client::builder().tls(tls).connect("zk1:2281,zk2:2281").await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    roots: Roots,
    identity: Option<Identity>,
    /// Opens an encrypted PEM client key.
    key_password: Option<Password>,
    server_name: Option<String>,
    accept_invalid_hostnames: bool,
}

impl TlsOptions {
    /// Trust the certificate authorities of the operating system's trust store (on Debian,
    /// `/etc/ssl/certs`).
    pub fn with_system_roots() -> Self {
        Self::new(Roots::System)
    }

    /// Trust every certificate of the PEM file at `path` (read when the client connects).
    pub fn with_ca_pem_file(path: impl Into<PathBuf>) -> Self {
        Self::new(Roots::Pem(Source::File(path.into())))
    }

    /// Trust every certificate of the PEM document `pem`.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self::new(Roots::Pem(Source::Bytes(pem.into())))
    }

    /// Trust the trusted certificate entries of the PKCS#12 store at `path` (`.p12`,
    /// `.pfx`: a Java trust store made with `keytool -importcert -storetype PKCS12`),
    /// opened with `password` when the client connects. As in Java, certificates that are
    /// not marked trusted (as `openssl pkcs12 -export` leaves them) are not trust anchors.
    pub fn with_ca_pkcs12_file(path: impl Into<PathBuf>, password: impl Into<String>) -> Self {
        Self::new(Roots::Java(
            Source::File(path.into()),
            Password(password.into()),
            StoreType::Pkcs12,
        ))
    }

    /// Trust the trusted certificate entries of the JKS store (Java's own format, `.jks`)
    /// at `path`, checked against `password` when the client connects (an empty password
    /// skips the store's integrity check, as in Java).
    pub fn with_ca_jks_file(path: impl Into<PathBuf>, password: impl Into<String>) -> Self {
        Self::new(Roots::Java(
            Source::File(path.into()),
            Password(password.into()),
            StoreType::Jks,
        ))
    }

    /// Like [`TlsOptions::with_ca_pkcs12_file`], from the store's bytes.
    pub fn with_ca_pkcs12(store: impl Into<Vec<u8>>, password: impl Into<String>) -> Self {
        Self::new(Roots::Java(
            Source::Bytes(store.into()),
            Password(password.into()),
            StoreType::Pkcs12,
        ))
    }

    fn new(roots: Roots) -> Self {
        Self {
            roots,
            identity: None,
            key_password: None,
            server_name: None,
            accept_invalid_hostnames: false,
        }
    }

    /// Present this certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1; encrypted PKCS#8 with [`TlsOptions::client_key_password`]), both PEM files,
    /// to servers that ask for one (mutual TLS,
    /// Apache's `ssl.clientAuth=want|need`). The key and certificate may share a file.
    pub fn client_cert_pem_files(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.identity = Some(Identity::Pem {
            chain: Source::File(cert_chain.into()),
            key: Source::File(key.into()),
        });
        self
    }

    /// Like [`TlsOptions::client_cert_pem_files`], from PEM documents in memory.
    pub fn client_cert_pem(
        mut self,
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity = Some(Identity::Pem {
            chain: Source::Bytes(cert_chain.into()),
            key: Source::Bytes(key.into()),
        });
        self
    }

    /// The password of an encrypted PEM client key (`ENCRYPTED PRIVATE KEY`, as `openssl
    /// pkcs8 -topk8` writes it; Java's `zookeeper.ssl.keyStore.password`), for the key
    /// given to [`TlsOptions::client_cert_pem_files`] or [`TlsOptions::client_cert_pem`]
    /// (before or after them). Unused by an unencrypted key and by Java stores, which
    /// take their own password.
    pub fn client_key_password(mut self, password: impl Into<String>) -> Self {
        self.key_password = Some(Password(password.into()));
        self
    }

    /// Present the private key entry of the PKCS#12 store at `path` (`.p12`, `.pfx`; a
    /// Java key store made with `keytool` or `openssl pkcs12 -export`) with the
    /// certificate chain stored beside it, opened with `password` when the client
    /// connects. The store's key and its certificates share the one password, as
    /// Java's key managers expect.
    pub fn client_identity_pkcs12_file(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<String>,
    ) -> Self {
        self.identity = Some(Identity::Java(
            Source::File(path.into()),
            Password(password.into()),
            StoreType::Pkcs12,
        ));
        self
    }

    /// Present the private key entry of the JKS store at `path` with its certificate
    /// chain; the key is recovered with the store's `password`, as Apache and its Java
    /// clients use one password for both.
    pub fn client_identity_jks_file(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<String>,
    ) -> Self {
        self.identity = Some(Identity::Java(
            Source::File(path.into()),
            Password(password.into()),
            StoreType::Jks,
        ));
        self
    }

    /// Like [`TlsOptions::client_identity_pkcs12_file`], from the store's bytes.
    pub fn client_identity_pkcs12(
        mut self,
        store: impl Into<Vec<u8>>,
        password: impl Into<String>,
    ) -> Self {
        self.identity = Some(Identity::Java(
            Source::Bytes(store.into()),
            Password(password.into()),
            StoreType::Pkcs12,
        ));
        self
    }

    /// Send this name (SNI) and verify every server's certificate against it, instead of
    /// the host of each connect string entry — for an ensemble whose members share one
    /// certificate.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accept a server certificate issued for another host name, as long as
    /// it is signed by a trusted root (Java's `zookeeper.ssl.hostnameVerification=false`).
    /// Anyone holding any certificate from those roots can then impersonate the ensemble;
    /// prefer [`TlsOptions::server_name`]. Logged as a warning at every connect.
    pub fn danger_accept_invalid_hostnames(mut self, accept: bool) -> Self {
        self.accept_invalid_hostnames = accept;
        self
    }

    /// Whether [`TlsOptions::danger_accept_invalid_hostnames`] is set.
    pub fn accepts_invalid_hostnames(&self) -> bool {
        self.accept_invalid_hostnames
    }

    /// Loads the files and builds what connects.
    pub(crate) fn connector(&self) -> Result<TlsConnector> {
        // rustls deprecates ring's provider for lacking post-quantum key exchange; the JVMs
        // Apache ZooKeeper runs on do not offer it either, and aws-lc-rs (which has it)
        // needs cmake and clang to build.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &self.roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    let why = found
                        .errors
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "no certificates".into());
                    return Err(Error::TlsConfig(format!("system trust store: {why}")));
                }
                // A few unparsable system certificates are common and harmless.
                let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
            }
            Roots::Pem(pem) => {
                for cert in certificates(&pem.load("CA bundle")?, "CA bundle")? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::TlsConfig(format!("CA bundle: {e}")))?;
                }
            }
            Roots::Java(store, password, kind) => {
                let what = store.describe("trust store");
                let bytes = store.load("trust store")?;
                let certs = zk_keystore::trusted_certificates(*kind, &bytes, &password.0)
                    .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?;
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?;
                }
            }
        }
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| Error::TlsConfig(format!("trust roots: {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?;
        let builder = if self.accept_invalid_hostnames {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostname {
                    inner: webpki,
                    provider,
                }))
        } else {
            builder.with_webpki_verifier(webpki)
        };
        let identity = match &self.identity {
            None => None,
            Some(Identity::Pem { chain, key }) => {
                let chain = certificates(&chain.load("client certificate")?, "client certificate")?;
                let key_pem = key.load("client key")?;
                let what = key.describe("client key");
                let key = if zk_keystore::has_encrypted_key(&key_pem) {
                    let Some(password) = &self.key_password else {
                        return Err(Error::TlsConfig(format!(
                            "{what}: the key is encrypted and no password was given"
                        )));
                    };
                    zk_keystore::decrypt_pem_key(&key_pem, &password.0)
                        .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?
                        .ok_or_else(|| Error::TlsConfig(format!("{what}: no private key")))?
                } else {
                    PrivateKeyDer::from_pem_slice(&key_pem)
                        .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?
                };
                Some((chain, key))
            }
            Some(Identity::Java(store, password, kind)) => {
                let what = store.describe("key store");
                let bytes = store.load("key store")?;
                let identity = zk_keystore::identity(*kind, &bytes, &password.0)
                    .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?;
                if identity.keys_in_store > 1 {
                    tracing::warn!(
                        store = %what,
                        alias = %identity.alias,
                        keys = identity.keys_in_store,
                        "the key store holds several keys; presenting the first"
                    );
                }
                Some((identity.chain, identity.key))
            }
        };
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::TlsConfig(format!("client certificate and key: {e}")))?,
        };
        Ok(TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name: self.server_name.clone(),
            accept_invalid_hostnames: self.accept_invalid_hostnames,
        })
    }
}

/// Every certificate of a PEM document; at least one.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::TlsConfig(format!(
            "{what}: no certificate in the PEM"
        )));
    }
    Ok(certs)
}

/// Why a TLS connection to a server failed, for [`Error::Tls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate is not signed by a trusted root (or is expired, revoked,
    /// malformed, …).
    UntrustedCertificate,
    /// The server's certificate is valid but not for the host name connected to.
    HostnameMismatch,
    /// The server refused the client: it sent an alert (typically: it requires a client
    /// certificate, or does not trust the one presented).
    Refused,
    /// Anything else: a protocol error, no common cipher suite, a non-TLS peer, …
    Handshake,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::UntrustedCertificate => "untrusted server certificate",
            TlsFailure::HostnameMismatch => "server certificate not valid for the host name",
            TlsFailure::Refused => "refused by the server",
            TlsFailure::Handshake => "handshake failed",
        })
    }
}

impl TlsFailure {
    /// Classifies a rustls error.
    pub(crate) fn of(error: &rustls::Error) -> TlsFailure {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsFailure::HostnameMismatch,
            E::InvalidCertificate(_) | E::InvalidCertRevocationList(_) => {
                TlsFailure::UntrustedCertificate
            }
            E::AlertReceived(_) => TlsFailure::Refused,
            _ => TlsFailure::Handshake,
        }
    }
}

/// The error for a failed TLS connection to `server`: typed when rustls says why.
pub(crate) fn tls_error(server: &str, error: &std::io::Error) -> Error {
    let (kind, detail) = match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => (TlsFailure::of(tls), tls.to_string()),
        None => (TlsFailure::Handshake, error.to_string()),
    };
    Error::Tls {
        server: server.to_owned(),
        kind,
        detail,
    }
}

/// A loaded TLS configuration: makes TLS connections over TCP connections.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
    server_name: Option<String>,
    accept_invalid_hostnames: bool,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .field("accept_invalid_hostnames", &self.accept_invalid_hostnames)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// Runs the handshake with `host` (port `port`) over `tcp`.
    ///
    /// # Errors
    /// [`Error::Tls`] when the handshake fails, [`Error::TlsConfig`] when `host` is not a
    /// name a certificate can be checked against.
    pub(crate) async fn handshake(
        &self,
        host: &str,
        port: u16,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|e| Error::TlsConfig(format!("server name {name:?}: {e}")))?;
        if self.accept_invalid_hostnames {
            tracing::warn!(
                server = %format_args!("{host}:{port}"),
                "TLS host name verification is off (danger_accept_invalid_hostnames)"
            );
        }
        self.inner
            .connect(server_name, tcp)
            .await
            .map_err(|e| tls_error(&format!("{host}:{port}"), &e))
    }
}

/// The certificate check of `danger_accept_invalid_hostnames`: webpki's, with a name
/// mismatch forgiven. webpki checks the chain before the name, so a mismatch means the
/// chain was trusted.
#[derive(Debug)]
struct AnyHostname {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_testkit::TestCa;

    fn config_error(options: &TlsOptions) -> String {
        match options.connector() {
            Err(Error::TlsConfig(why)) => why,
            other => panic!("expected a TLS configuration error, got {other:?}"),
        }
    }

    #[test]
    fn a_key_password_applies_before_or_after_the_key_and_is_never_printed() {
        let before = TlsOptions::with_system_roots()
            .client_key_password("key-secret")
            .client_cert_pem_files("/c.pem", "/k.pem");
        let after = TlsOptions::with_system_roots()
            .client_cert_pem_files("/c.pem", "/k.pem")
            .client_key_password("key-secret");
        assert_eq!(before, after);
        let printed = format!("{before:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn a_missing_or_certificate_less_ca_bundle_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(config_error(&TlsOptions::with_ca_pem_file(&missing)).contains("missing.pem"));
        assert!(
            config_error(&TlsOptions::with_ca_pem(b"not a PEM".to_vec()))
                .contains("no certificate")
        );
    }

    #[test]
    fn a_client_key_must_belong_to_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca").unwrap();
        let alice = ca.issue("alice", &["alice.test"]).unwrap();
        let bob = ca.issue("bob", &["bob.test"]).unwrap();
        let trusting = TlsOptions::with_ca_pem_file(ca.cert_path());
        assert!(trusting
            .clone()
            .client_cert_pem_files(&alice.cert, &alice.key)
            .connector()
            .is_ok());
        // Apache's PEM key store layout (key and certificate in one file) works for both.
        assert!(trusting
            .clone()
            .client_cert_pem_files(&alice.key_store, &alice.key_store)
            .connector()
            .is_ok());
        config_error(&trusting.client_cert_pem_files(&alice.cert, &bob.key));
    }

    #[test]
    fn rustls_errors_map_to_what_went_wrong() {
        use rustls::{AlertDescription, Error as E};
        let cases = [
            (
                E::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsFailure::UntrustedCertificate,
            ),
            (
                E::InvalidCertificate(CertificateError::Expired),
                TlsFailure::UntrustedCertificate,
            ),
            (
                E::InvalidCertificate(CertificateError::NotValidForName),
                TlsFailure::HostnameMismatch,
            ),
            (
                E::AlertReceived(AlertDescription::CertificateRequired),
                TlsFailure::Refused,
            ),
            (E::DecryptError, TlsFailure::Handshake),
        ];
        for (error, kind) in cases {
            assert_eq!(TlsFailure::of(&error), kind, "{error}");
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
            assert!(matches!(tls_error("h:1", &io), Error::Tls { kind: k, .. } if k == kind));
        }
    }

    #[test]
    fn key_material_is_never_printed() {
        let options = TlsOptions::with_ca_pem(b"ca".to_vec())
            .client_cert_pem(b"cert".to_vec(), b"SECRET KEY".to_vec());
        assert!(!format!("{options:?}").contains("SECRET"));
    }
}
