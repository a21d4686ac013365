//! TLS on the client port (Apache's `secureClientPort`) and between ensemble members
//! (`sslQuorum`): the key and certificate presented, which certificates are asked for
//! and trusted, and the identity a trusted client certificate gives its connection (the
//! `x509` auth scheme).
//!
//! Owns loading [`TlsSettings`] into rustls configurations (PEM files, as Apache reads
//! them with `ssl.keyStore.type=PEM`, and Java's PKCS#12 and JKS stores, read by
//! `zk-keystore`), and turning a certificate's subject into the string Java's `X500Principal.getName()` prints, which is what Apache's
//! `X509AuthenticationProvider` uses as the id. Running handshakes on sockets is `net`'s
//! and the ensemble transport's job; checking ACLs is `acl`'s.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use x509_parser::der_parser::asn1_rs::ToDer;

use crate::server::ServerError;
pub use zk_keystore::StoreType;

/// Whether the server asks clients for a certificate (Apache's `ssl.clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is asked for.
    None,
    /// One is asked for; a client without one is served all the same, without an `x509` id.
    Want,
    /// A client without a trusted certificate is refused (Apache's default).
    #[default]
    Need,
}

impl ClientAuth {
    /// Parses Apache's values (`none`, `want`, `need`, any case).
    pub fn parse(value: &str) -> Option<ClientAuth> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "want" => Some(ClientAuth::Want),
            "need" => Some(ClientAuth::Need),
            _ => None,
        }
    }
}

/// TLS versions a server offers (Apache's `ssl.enabledProtocols`, or `ssl.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersions {
    /// Parses a comma-separated list of `TLSv1.2` / `TLSv1.3`; older versions are refused
    /// by name, since rustls does not speak them.
    pub fn parse(value: &str) -> Result<TlsVersions, String> {
        let (mut v12, mut v13) = (false, false);
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "TLSv1.2" => v12 = true,
                "TLSv1.3" | "TLS" => v13 = true,
                other => return Err(format!("{other} is not offered; use TLSv1.2 or TLSv1.3")),
            }
        }
        match (v12, v13) {
            (true, true) => Ok(TlsVersions::Both),
            (true, false) => Ok(TlsVersions::Tls12),
            (false, true) => Ok(TlsVersions::Tls13),
            (false, false) => Err("no protocol listed".into()),
        }
    }

    fn list(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersions::Both => rustls::ALL_VERSIONS,
            TlsVersions::Tls12 => &TLS12,
            TlsVersions::Tls13 => &TLS13,
        }
    }
}

/// A key or trust store file: where it is, its type if named (else the file extension
/// decides, as in Java) and its password (a Java store's, or a PEM key store's encrypted
/// key's).
#[derive(Clone, PartialEq, Eq)]
struct Store {
    path: PathBuf,
    kind: Option<StoreType>,
    password: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Store {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            kind: None,
            password: String::new(),
        }
    }

    fn kind(&self) -> Result<StoreType, ServerError> {
        match self.kind {
            Some(kind) => Ok(kind),
            None => StoreType::from_path(&self.path)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", self.path.display()))),
        }
    }

    /// The certificate chain and private key of a key store.
    fn identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
        match self.kind()? {
            StoreType::Pem => key_store(&self.path, &self.password),
            kind => {
                let identity = zk_keystore::identity(kind, &read(&self.path)?, &self.password)
                    .map_err(|e| ServerError::Tls(format!("{}: {e}", self.path.display())))?;
                if identity.keys_in_store > 1 {
                    tracing::warn!(
                        store = %self.path.display(),
                        alias = %identity.alias,
                        keys = identity.keys_in_store,
                        "the key store holds several keys; presenting the first"
                    );
                }
                Ok((identity.chain, identity.key))
            }
        }
    }

    /// The certificates a trust store trusts.
    fn trusted(&self) -> Result<Vec<CertificateDer<'static>>, ServerError> {
        match self.kind()? {
            StoreType::Pem => certificates(&self.path),
            kind => zk_keystore::trusted_certificates(kind, &read(&self.path)?, &self.password)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", self.path.display()))),
        }
    }
}

/// A password kept in settings: compared, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a TLS listener presents and trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    key_store: Store,
    /// The trust store's path, and its type and password (kept apart so that they may be
    /// given before the path).
    trust_store: Option<PathBuf>,
    trust_kind: Option<StoreType>,
    trust_password: Secret,
    client_auth: ClientAuth,
    versions: TlsVersions,
}

impl TlsSettings {
    /// Presents the private key and certificate chain of the key store `key_store`: by
    /// default of the type its extension implies (`.p12`/`.pfx` PKCS#12, `.jks` JKS, else PEM:
    /// Apache's PEM key store, the key and the chain in one file, in either order).
    pub fn new(key_store: impl Into<PathBuf>) -> Self {
        Self {
            key_store: Store::new(key_store.into()),
            trust_store: None,
            trust_kind: None,
            trust_password: Secret::default(),
            client_auth: ClientAuth::default(),
            versions: TlsVersions::default(),
        }
    }

    /// The key store's type (Apache's `ssl.keyStore.type`) and password
    /// (`ssl.keyStore.password`: opens a Java store, or an encrypted PEM key).
    pub fn key_store_type(mut self, kind: Option<StoreType>, password: impl Into<String>) -> Self {
        self.key_store.kind = kind;
        self.key_store.password = password.into();
        self
    }

    /// Trusts client certificates that chain to a CA of this trust store: of the type its
    /// extension implies, as the key store (without one, the system's trust store, as a
    /// JVM falls back to its own).
    pub fn trust_store(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust_store = Some(path.into());
        self
    }

    /// The trust store's type (`ssl.trustStore.type`) and password
    /// (`ssl.trustStore.password`), for the trust store given before or after.
    pub fn trust_store_type(
        mut self,
        kind: Option<StoreType>,
        password: impl Into<String>,
    ) -> Self {
        self.trust_kind = kind;
        self.trust_password = Secret(password.into());
        self
    }

    /// Whether clients must, may or need not present a certificate (default: must).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Which TLS versions are offered (default: 1.2 and 1.3).
    pub fn versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Reads the files and builds the rustls configuration; every failure names the file.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, ServerError> {
        // rustls deprecates ring's provider for lacking post-quantum key exchange; the JVMs
        // Apache ZooKeeper and its clients run on do not offer it either, and aws-lc-rs
        // needs cmake and clang to build.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, key) = self.key_store.identity()?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions.list())
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let roots = Arc::new(self.roots()?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if auth == ClientAuth::Want {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| ServerError::Tls(format!("trust store: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            ServerError::Tls(format!(
                "{}: the key does not fit the certificate: {e}",
                self.key_store.path.display()
            ))
        })?;
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, ServerError> {
        let mut roots = RootCertStore::empty();
        match &self.trust_store {
            Some(path) => {
                let store = Store {
                    path: path.clone(),
                    kind: self.trust_kind,
                    password: self.trust_password.0.clone(),
                };
                for cert in store.trusted()? {
                    roots
                        .add(cert)
                        .map_err(|e| ServerError::Tls(format!("{}: {e}", store.path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                // A few unparsable system certificates are common and harmless.
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(ServerError::Tls(
                        "no ssl.trustStore.location and no system trust store to check client \
                         certificates against"
                            .into(),
                    ));
                }
            }
        }
        Ok(roots)
    }
}

/// TLS between ensemble members (`sslQuorum=true` with the `ssl.quorum.*` stores): every
/// member presents its certificate on every connection it dials and demands one on every
/// connection it accepts, both checked against the trust store, so a stranger can neither
/// join nor be heard on the quorum and election ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTls {
    /// The member's key store, the trust store and the TLS versions (client authentication
    /// is always required).
    pub settings: TlsSettings,
    /// Whether a dialled member's certificate must name the host it was dialled at, and
    /// a connecting member's the address it connects from
    /// (`ssl.quorum.hostnameVerification`, default true).
    pub verify_host_names: bool,
}

/// Both ends of member-to-member TLS, ready to use.
#[derive(Clone)]
pub(crate) struct PeerTls {
    pub connector: tokio_rustls::TlsConnector,
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Whether an accepted member's certificate must name the address it connects from
    /// (see [`names_peer`]); set with `ssl.quorum.hostnameVerification`, as in Apache.
    pub verify_peer_names: bool,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

impl QuorumTls {
    /// Reads the files and builds both ends.
    pub(crate) fn load(&self) -> Result<PeerTls, ServerError> {
        let accepting = TlsSettings {
            client_auth: ClientAuth::Need,
            ..self.settings.clone()
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(accepting.server_config()?);
        #[allow(deprecated)] // ring's provider: see `server_config`.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.settings.roots()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| ServerError::Tls(format!("quorum trust store: {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(self.settings.versions.list())
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        let builder = if self.verify_host_names {
            builder.with_webpki_verifier(webpki)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostName(webpki)))
        };
        let (chain, key) = self.settings.key_store.identity()?;
        let config = builder.with_client_auth_cert(chain, key).map_err(|e| {
            ServerError::Tls(format!(
                "{}: the key does not fit the certificate: {e}",
                self.settings.key_store.path.display()
            ))
        })?;
        Ok(PeerTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            acceptor,
            verify_peer_names: self.verify_host_names,
        })
    }
}

/// The name a dialled member's certificate is checked against: its host as configured.
pub(crate) fn peer_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// Whether `cert`, presented by a member connecting from `ip`, names that member: it is
/// valid for `ip` itself, or for one of the ensemble's configured `hosts` that resolves to
/// `ip`.
///
/// Apache's quorum trust manager checks the certificate of every member that connects
/// (`QuorumX509Util` verifies client host names; the client port does not), first against
/// the address, then against the name a reverse DNS lookup gives. Without this, any
/// certificate the trust store's CA ever issued — an application's client certificate,
/// say — would be let onto the quorum and election ports. The configured host names take
/// the place of the reverse lookup: a member configured as `zk1.example.com` with a
/// certificate for that name is accepted when the name resolves to the address it
/// connects from.
pub(crate) async fn names_peer(cert: &CertificateDer<'_>, ip: IpAddr, hosts: &[&str]) -> bool {
    let Ok(parsed) = ParsedCertificate::try_from(cert) else {
        return false;
    };
    let ip = ip.to_canonical();
    let valid_for = |name: &ServerName<'_>| verify_server_name(&parsed, name).is_ok();
    if valid_for(&ServerName::IpAddress(ip.into())) {
        return true;
    }
    for &host in hosts {
        let Some(name) = peer_name(host) else {
            continue;
        };
        if !valid_for(&name) {
            continue;
        }
        if let Ok(mut addrs) = tokio::net::lookup_host((host, 0)).await {
            if addrs.any(|a| a.ip().to_canonical() == ip) {
                return true;
            }
        }
    }
    false
}

/// Checks a member's certificate chain but not the name in it
/// (`ssl.quorum.hostnameVerification=false`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match checked {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| ServerError::Tls(format!("reading {}: {e}", path.display())))
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The chain and key of an Apache PEM key store; an encrypted key (`ENCRYPTED PRIVATE
/// KEY`) is decrypted with `password` (`ssl.keyStore.password`), as Apache does.
fn key_store(
    path: &Path,
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let pem = read(path)?;
    let chain = certificates(path)?;
    let named = |e: &dyn std::fmt::Display| ServerError::Tls(format!("{}: {e}", path.display()));
    let key = if zk_keystore::has_encrypted_key(&pem) {
        if password.is_empty() {
            return Err(named(
                &"the private key is encrypted and ssl.keyStore.password is not set",
            ));
        }
        zk_keystore::decrypt_pem_key(&pem, password)
            .map_err(|e| named(&e))?
            .ok_or_else(|| named(&"no usable private key"))?
    } else {
        PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|e| named(&format!("no usable private key: {e}")))?
    };
    Ok((chain, key))
}

/// The subject of a DER certificate as Java's `X500Principal.getName()` prints it (RFC
/// 2253: the most specific name first, `,` between names, `+` inside a multi-valued one,
/// special characters escaped, attributes without a short name as `OID=#hex`). `None`
/// if the certificate cannot be parsed.
pub(crate) fn subject_dn(cert: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    let rdns: Vec<_> = cert.subject().iter().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, ava) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = ava.attr_type().to_id_string();
            match (short_name(&oid), ava.as_str()) {
                (Some(name), Ok(value)) => {
                    out.push_str(name);
                    out.push('=');
                    escape_value(value, &mut out);
                }
                _ => {
                    out.push_str(&oid);
                    out.push_str("=#");
                    for b in ava.attr_value().to_der_vec().ok()? {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    Some(out)
}

/// The keywords Java's RFC 2253 output uses; every other attribute is printed by OID.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping: the special characters get a backslash, and so do a leading `#` or
/// space and a trailing space.
fn escape_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\');
        let edge_space = c == ' ' && (i == 0 || i == last);
        if special || edge_space {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Whether Java's `new X500Principal(id)` would accept `id` — what Apache's
/// `X509AuthenticationProvider.isValid` asks of an `x509` ACL: comma- (or semicolon-)
/// separated `keyword=value` names, `+` joining names within one, keywords from Java's
/// list or OIDs. The empty string is a valid (empty) name.
pub(crate) fn dn_is_valid(id: &str) -> bool {
    if id.trim().is_empty() {
        return true;
    }
    let mut ava = String::new();
    let mut chars = id.chars();
    let mut in_quotes = false;
    let mut avas = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => {
                    ava.push('\\');
                    ava.push(next);
                }
                None => return false,
            },
            '"' => {
                in_quotes = !in_quotes;
                ava.push(c);
            }
            ',' | ';' | '+' if !in_quotes => avas.push(std::mem::take(&mut ava)),
            c => ava.push(c),
        }
    }
    if in_quotes {
        return false;
    }
    avas.push(ava);
    avas.iter().all(|a| {
        let Some((key, _value)) = a.split_once('=') else {
            return false;
        };
        let key = key.trim();
        let key = key
            .strip_prefix("OID.")
            .or_else(|| key.strip_prefix("oid."))
            .unwrap_or(key);
        let is_oid = !key.is_empty()
            && key.split('.').count() >= 2
            && key
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        is_oid
            || matches!(
                key.to_ascii_uppercase().as_str(),
                "CN" | "C"
                    | "L"
                    | "S"
                    | "ST"
                    | "O"
                    | "OU"
                    | "T"
                    | "IP"
                    | "STREET"
                    | "DC"
                    | "DNQUALIFIER"
                    | "DNQ"
                    | "SURNAME"
                    | "GIVENNAME"
                    | "INITIALS"
                    | "GENERATION"
                    | "EMAIL"
                    | "EMAILADDRESS"
                    | "UID"
                    | "SERIALNUMBER"
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_auth_and_versions_parse_apache_values() {
        assert_eq!(ClientAuth::parse("NEED"), Some(ClientAuth::Need));
        assert_eq!(ClientAuth::parse("want"), Some(ClientAuth::Want));
        assert_eq!(ClientAuth::parse("none"), Some(ClientAuth::None));
        assert_eq!(ClientAuth::parse("sometimes"), None);
        assert_eq!(TlsVersions::parse("TLSv1.2"), Ok(TlsVersions::Tls12));
        assert_eq!(
            TlsVersions::parse("TLSv1.3, TLSv1.2"),
            Ok(TlsVersions::Both)
        );
        assert!(TlsVersions::parse("TLSv1.1").is_err());
        assert!(TlsVersions::parse("").is_err());
    }

    #[test]
    fn subject_names_print_as_java_prints_them() {
        let mut params = rcgen_params();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "NL");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "zk, mesh");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, " alice#1 ");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        assert_eq!(
            subject_dn(cert.der()).as_deref(),
            Some(r"CN=\ alice\#1\ ,O=zk\, mesh,C=NL")
        );
        assert_eq!(subject_dn(b"not a certificate"), None);
    }

    fn rcgen_params() -> rcgen::CertificateParams {
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params")
    }

    #[test]
    fn x509_acl_ids_are_checked_as_java_parses_names() {
        assert!(dn_is_valid("CN=alice,O=zkmesh,C=NL"));
        assert!(dn_is_valid("cn=alice; ou=dev"));
        assert!(dn_is_valid(r"CN=a\,b+UID=7"));
        assert!(dn_is_valid("2.5.4.3=alice"));
        assert!(dn_is_valid(r#"CN="a,b""#));
        assert!(dn_is_valid(""));
        assert!(!dn_is_valid("alice"));
        assert!(!dn_is_valid("XX=alice"));
        assert!(!dn_is_valid("CN=alice,"));
        assert!(!dn_is_valid(r#"CN="open"#));
        assert!(!dn_is_valid("CN=a\\"));
    }

    #[test]
    fn store_types_and_passwords_apply_in_any_order_and_are_never_printed() {
        let before = TlsSettings::new("/k.p12")
            .trust_store_type(Some(StoreType::Pkcs12), "trust-secret")
            .trust_store("/t.p12")
            .key_store_type(Some(StoreType::Pkcs12), "key-secret");
        let after = TlsSettings::new("/k.p12")
            .key_store_type(Some(StoreType::Pkcs12), "key-secret")
            .trust_store("/t.p12")
            .trust_store_type(Some(StoreType::Pkcs12), "trust-secret");
        assert_eq!(before, after);
        let printed = format!("{before:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn unreadable_or_encrypted_key_stores_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("zk-server-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing.pem");
        let err = TlsSettings::new(&missing).server_config().unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let encrypted = dir.join("encrypted.pem");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .expect("write");
        let err = TlsSettings::new(&encrypted).server_config().unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
        let err = TlsSettings::new(&encrypted)
            .key_store_type(None, "pw")
            .server_config()
            .unwrap_err();
        assert!(err.to_string().contains("encrypted.pem"), "{err}");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "hello").expect("write");
        let err = TlsSettings::new(&garbage).server_config().unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_member_certificate_must_name_its_address_or_a_configured_host_resolving_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = zk_testkit::TestCa::new(dir.path(), "quorum").unwrap();
        let der = |names: &[&str]| {
            let issued = ca.issue(&names.join("-"), names).unwrap();
            CertificateDer::from_pem_file(&issued.cert).unwrap()
        };
        let (by_ip, by_name, elsewhere) = (
            der(&["127.0.0.1"]),
            der(&["localhost"]),
            der(&["app.example.com"]),
        );
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(names_peer(&by_ip, loopback, &[]).await);
        assert!(names_peer(&by_ip, mapped, &[]).await, "IPv4-mapped");
        assert!(!names_peer(&by_ip, other, &[]).await);
        assert!(!names_peer(&by_name, loopback, &[]).await, "no host");
        assert!(names_peer(&by_name, loopback, &["localhost"]).await);
        assert!(
            !names_peer(&by_name, other, &["localhost"]).await,
            "resolves elsewhere"
        );
        assert!(!names_peer(&elsewhere, loopback, &["localhost", "127.0.0.1"]).await);
        assert!(!names_peer(&CertificateDer::from(vec![1, 2, 3]), loopback, &[]).await);
    }
}
