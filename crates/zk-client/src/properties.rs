//! Configuration from the Java client's property names, for applications that configure
//! ZooKeeper clients by properties (`zookeeper.client.secure=true`, …).
//!
//! Owns the mapping of those names onto [`ClientBuilder`] settings, and refusing the ones
//! whose meaning this client cannot honour rather than dropping them silently:
//!
//! | Property | Here |
//! |---|---|
//! | `zookeeper.client.secure` | TLS on ([`ClientBuilder::tls`]) |
//! | `zookeeper.ssl.trustStore.location` / `.type` / `.password` | CA bundle: PEM ([`TlsOptions::with_ca_pem_file`]), PKCS#12 ([`TlsOptions::with_ca_pkcs12_file`]) or JKS ([`TlsOptions::with_ca_jks_file`]); none: the system roots, as Java's default trust store |
//! | `zookeeper.ssl.keyStore.location` / `.type` / `.password` | client certificate and key: one PEM file ([`TlsOptions::client_cert_pem_files`]), PKCS#12 ([`TlsOptions::client_identity_pkcs12_file`]) or JKS ([`TlsOptions::client_identity_jks_file`]) |
//! | `zookeeper.ssl.hostnameVerification` | `false`: [`TlsOptions::danger_accept_invalid_hostnames`] |
//! | `zookeeper.request.timeout` (ms) | [`ClientBuilder::request_timeout`] |
//! | `jute.maxbuffer` (bytes) | [`ClientBuilder::max_frame`] |
//! | `java.security.auth.login.config` | JAAS file: SASL DIGEST-MD5, or GSSAPI with the `kerberos` feature ([`ClientBuilder::sasl`], [`SaslOptions::from_jaas_file`]) |
//! | `zookeeper.sasl.clientconfig` | the JAAS section (default `Client`) |
//! | `zookeeper.sasl.client` | `false`: no SASL even with a JAAS file (default `true`) |
//! | `zookeeper.sasl.client.username` | GSSAPI: the server principal's service part (default `zookeeper`) |
//! | `zookeeper.sasl.client.canonicalize.hostname` | GSSAPI: `false` to name the server by the connect string's host as is |
//! | `zookeeper.server.principal` | GSSAPI: the server's whole principal |
//! | `zookeeper.server.realm` | GSSAPI: the realm of a server principal that names none |
//!
//! As with Java, a JAAS file that is named but unusable (unreadable, no such section, a
//! Kerberos-only section in a build without the `kerberos` feature) is an error rather
//! than a silent unauthenticated client. The four GSSAPI properties are ignored unless the
//! JAAS section is Kerberos'.
//!
//! A store's type is its `.type` (`PEM`, `PKCS12`, `JKS`; any case) or, when none is
//! given, its file extension as Java infers it (`.p12` and `.pfx` are PKCS#12, `.jks`
//! JKS, anything else PEM). A Java store is opened with its `.password` (empty when not
//! set). `BCFKS` stores are an error naming the `keytool` command that converts them, as are
//! `zookeeper.ssl.crl` and `zookeeper.ssl.ocsp` set to `true` (revocation checking this
//! client does not do). A PEM key store's password opens its key if that is encrypted
//! (`ENCRYPTED PRIVATE KEY`). Protocol and cipher suite choices are
//! rustls's (TLS 1.2 and 1.3, strong suites only); other names are ignored.

use std::collections::HashMap;
use std::time::Duration;

use zk_keystore::StoreType;

use crate::builder::ClientBuilder;
use crate::error::{Error, Result};
use crate::sasl::SaslOptions;
use crate::tls::TlsOptions;

/// `zookeeper.client.secure`.
pub const CLIENT_SECURE: &str = "zookeeper.client.secure";
/// `zookeeper.ssl.keyStore.location`.
pub const KEY_STORE_LOCATION: &str = "zookeeper.ssl.keyStore.location";
/// `zookeeper.ssl.keyStore.type`.
pub const KEY_STORE_TYPE: &str = "zookeeper.ssl.keyStore.type";
/// `zookeeper.ssl.trustStore.location`.
pub const TRUST_STORE_LOCATION: &str = "zookeeper.ssl.trustStore.location";
/// `zookeeper.ssl.trustStore.type`.
pub const TRUST_STORE_TYPE: &str = "zookeeper.ssl.trustStore.type";
/// `zookeeper.ssl.keyStore.password`.
pub const KEY_STORE_PASSWORD: &str = "zookeeper.ssl.keyStore.password";
/// `zookeeper.ssl.trustStore.password`.
pub const TRUST_STORE_PASSWORD: &str = "zookeeper.ssl.trustStore.password";
/// `zookeeper.ssl.hostnameVerification`.
pub const HOSTNAME_VERIFICATION: &str = "zookeeper.ssl.hostnameVerification";
/// `zookeeper.request.timeout`, in milliseconds.
pub const REQUEST_TIMEOUT: &str = "zookeeper.request.timeout";
/// `jute.maxbuffer`, in bytes.
pub const JUTE_MAX_BUFFER: &str = "jute.maxbuffer";

/// `java.security.auth.login.config`: the JAAS file.
pub const JAAS_CONFIG: &str = "java.security.auth.login.config";
/// `zookeeper.sasl.clientconfig`: the JAAS section (default `Client`).
pub const SASL_CLIENT_CONFIG: &str = "zookeeper.sasl.clientconfig";
/// `zookeeper.sasl.client`: whether to use SASL at all (default `true`).
pub const SASL_CLIENT: &str = "zookeeper.sasl.client";

/// `zookeeper.sasl.client.username`: the service part of the server's Kerberos principal.
pub const SASL_CLIENT_USERNAME: &str = "zookeeper.sasl.client.username";
/// `zookeeper.sasl.client.canonicalize.hostname` (default `true`).
pub const SASL_CLIENT_CANONICALIZE_HOSTNAME: &str = "zookeeper.sasl.client.canonicalize.hostname";
/// `zookeeper.server.principal`: the server's whole Kerberos principal.
pub const SERVER_PRINCIPAL: &str = "zookeeper.server.principal";
/// `zookeeper.server.realm`: the server's realm, when its principal names none.
pub const SERVER_REALM: &str = "zookeeper.server.realm";

/// Revocation checks Java can do and this client cannot.
const REVOCATION: [&str; 2] = ["zookeeper.ssl.crl", "zookeeper.ssl.ocsp"];

impl ClientBuilder {
    /// A builder configured from the Java client's properties (see the table in
    /// [`crate::properties`]); other settings keep their defaults and can be changed on
    /// the result.
    ///
    /// ```
    /// let builder = zk_client::ClientBuilder::from_properties([
    ///     ("zookeeper.client.secure", "true"),
    ///     ("zookeeper.ssl.trustStore.location", "/etc/zk/ca.pem"),
    ///     ("zookeeper.ssl.trustStore.type", "PEM"),
    /// ])?;
    /// assert!(builder.tls_options().is_some());
    /// # Ok::<(), zk_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that does not parse (a boolean other than
    /// `true`/`false`, a non-numeric timeout), [`Error::TlsConfig`] for a store that is
    /// not PEM, PKCS#12 or JKS or a revocation check asked for, [`Error::Jaas`] for a JAAS file that cannot be
    /// used (it is read here).
    pub fn from_properties<K, V>(properties: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let props: HashMap<String, String> = properties
            .into_iter()
            .map(|(k, v)| (k.as_ref().trim().to_owned(), v.as_ref().trim().to_owned()))
            .collect();
        let get = |key: &str| props.get(key).map(String::as_str).filter(|v| !v.is_empty());
        let mut builder = ClientBuilder::default();

        if let Some(ms) = get(REQUEST_TIMEOUT) {
            let ms: u64 = number(REQUEST_TIMEOUT, ms)?;
            // Java: 0 means no timeout.
            if ms > 0 {
                builder = builder.request_timeout(Duration::from_millis(ms));
            }
        }
        if let Some(bytes) = get(JUTE_MAX_BUFFER) {
            builder = builder.max_frame(number(JUTE_MAX_BUFFER, bytes)?);
        }

        if let Some(path) = get(JAAS_CONFIG) {
            if boolean(SASL_CLIENT, get(SASL_CLIENT), true)? {
                let sasl = SaslOptions::from_jaas_file(path, get(SASL_CLIENT_CONFIG))?;
                #[cfg(feature = "kerberos")]
                let sasl = match sasl.kerberos_options() {
                    Some(k) => {
                        let mut k = k.clone().canonicalize_hostname(boolean(
                            SASL_CLIENT_CANONICALIZE_HOSTNAME,
                            get(SASL_CLIENT_CANONICALIZE_HOSTNAME),
                            true,
                        )?);
                        if let Some(service) = get(SASL_CLIENT_USERNAME) {
                            k = k.with_service(service);
                        }
                        if let Some(principal) = get(SERVER_PRINCIPAL) {
                            k = k.with_server_principal(principal);
                        }
                        if let Some(realm) = get(SERVER_REALM) {
                            k = k.with_server_realm(realm);
                        }
                        SaslOptions::from(k)
                    }
                    None => sasl,
                };
                builder = builder.sasl(sasl);
            }
        }

        if !boolean(CLIENT_SECURE, get(CLIENT_SECURE), false)? {
            return Ok(builder);
        }
        for key in REVOCATION {
            if boolean(key, get(key), false)? {
                return Err(Error::TlsConfig(format!(
                    "{key}=true: certificate revocation checking is not supported"
                )));
            }
        }
        let password = |key: &str| get(key).unwrap_or_default().to_owned();
        let mut tls = match get(TRUST_STORE_LOCATION) {
            Some(path) => match store_type(TRUST_STORE_TYPE, get(TRUST_STORE_TYPE), path)? {
                StoreType::Pem => TlsOptions::with_ca_pem_file(path),
                StoreType::Pkcs12 => {
                    TlsOptions::with_ca_pkcs12_file(path, password(TRUST_STORE_PASSWORD))
                }
                StoreType::Jks => {
                    TlsOptions::with_ca_jks_file(path, password(TRUST_STORE_PASSWORD))
                }
            },
            None => TlsOptions::with_system_roots(),
        };
        if let Some(path) = get(KEY_STORE_LOCATION) {
            tls = match store_type(KEY_STORE_TYPE, get(KEY_STORE_TYPE), path)? {
                // A PEM key store holds the key and the certificate chain in one file;
                // an encrypted key is opened with the store's password.
                StoreType::Pem => match get(KEY_STORE_PASSWORD) {
                    Some(pw) => tls
                        .client_cert_pem_files(path, path)
                        .client_key_password(pw),
                    None => tls.client_cert_pem_files(path, path),
                },
                StoreType::Pkcs12 => {
                    tls.client_identity_pkcs12_file(path, password(KEY_STORE_PASSWORD))
                }
                StoreType::Jks => tls.client_identity_jks_file(path, password(KEY_STORE_PASSWORD)),
            };
        }
        if !boolean(HOSTNAME_VERIFICATION, get(HOSTNAME_VERIFICATION), true)? {
            tls = tls.danger_accept_invalid_hostnames(true);
        }
        Ok(builder.tls(tls))
    }
}

/// A store's type: its `.type`, or its file extension when none is given (as Java infers
/// it); JKS and BCFKS are refused with the command that converts them.
fn store_type(type_key: &str, given: Option<&str>, path: &str) -> Result<StoreType> {
    StoreType::of(given, std::path::Path::new(path))
        .map_err(|e| Error::TlsConfig(format!("{type_key} of {path}: {e}")))
}

fn boolean(key: &str, value: Option<&str>, default: bool) -> Result<bool> {
    match value {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(Error::InvalidArgument(format!(
            "{key}={v}: expected true or false"
        ))),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("{key}={value}: expected a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_of(props: &[(&str, &str)]) -> Option<TlsOptions> {
        ClientBuilder::from_properties(props.iter().copied())
            .unwrap()
            .tls_options()
            .cloned()
    }

    #[test]
    fn secure_with_pem_stores_maps_to_a_ca_bundle_and_a_client_certificate() {
        let tls = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.keyStore.location", "/etc/zk/client.pem"),
            ("zookeeper.ssl.keyStore.type", "PEM"),
            ("zookeeper.ssl.keyStore.password", "key-pw"),
            ("zookeeper.ssl.trustStore.location", "/etc/zk/ca.pem"),
            ("zookeeper.ssl.trustStore.type", "pem"),
        ]);
        assert_eq!(
            tls,
            Some(
                TlsOptions::with_ca_pem_file("/etc/zk/ca.pem")
                    .client_cert_pem_files("/etc/zk/client.pem", "/etc/zk/client.pem")
                    // For the key, should it be encrypted.
                    .client_key_password("key-pw")
            )
        );
    }

    #[test]
    fn java_stores_by_type_or_extension_are_opened_with_their_passwords() {
        let tls = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.keyStore.location", "/etc/zk/client.keystore"),
            ("zookeeper.ssl.keyStore.type", "pkcs12"),
            ("zookeeper.ssl.keyStore.password", "key-pw"),
            ("zookeeper.ssl.trustStore.location", "/etc/zk/trust.p12"),
            ("zookeeper.ssl.trustStore.password", "trust-pw"),
        ]);
        assert_eq!(
            tls,
            Some(
                TlsOptions::with_ca_pkcs12_file("/etc/zk/trust.p12", "trust-pw")
                    .client_identity_pkcs12_file("/etc/zk/client.keystore", "key-pw")
            )
        );
        let jks = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.keyStore.location", "/etc/zk/client.jks"),
            ("zookeeper.ssl.keyStore.password", "key-pw"),
            ("zookeeper.ssl.trustStore.location", "/etc/zk/trust"),
            ("zookeeper.ssl.trustStore.type", "JKS"),
        ]);
        assert_eq!(
            jks,
            Some(
                TlsOptions::with_ca_jks_file("/etc/zk/trust", "")
                    .client_identity_jks_file("/etc/zk/client.jks", "key-pw")
            )
        );
        let pfx_without_password = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.trustStore.location", "/etc/zk/trust.PFX"),
        ]);
        assert_eq!(
            pfx_without_password,
            Some(TlsOptions::with_ca_pkcs12_file("/etc/zk/trust.PFX", ""))
        );
    }

    #[test]
    fn without_secure_there_is_no_tls_and_without_a_trust_store_the_system_roots_are_used() {
        assert_eq!(
            tls_of(&[("zookeeper.ssl.trustStore.location", "/etc/zk/ca.pem")]),
            None
        );
        assert_eq!(
            tls_of(&[("zookeeper.client.secure", "false")]),
            None,
            "explicitly off"
        );
        assert_eq!(
            tls_of(&[("zookeeper.client.secure", "true")]),
            Some(TlsOptions::with_system_roots())
        );
    }

    #[test]
    fn a_jaas_file_turns_sasl_on_unless_sasl_client_is_false() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        std::fs::write(
            &path,
            "Client { org.apache.zookeeper.server.auth.DigestLoginModule required \
             username=\"alice\" password=\"secret\"; };\n\
             Mine { org.apache.zookeeper.server.auth.DigestLoginModule required \
             username=\"bob\" password=\"pw\"; };",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let sasl_of = |props: &[(&str, &str)]| {
            ClientBuilder::from_properties(props.iter().copied()).map(|b| b.sasl_options().cloned())
        };
        assert_eq!(
            sasl_of(&[(JAAS_CONFIG, file)]),
            Ok(Some(SaslOptions::digest_md5("alice", "secret")))
        );
        assert_eq!(
            sasl_of(&[(JAAS_CONFIG, file), (SASL_CLIENT_CONFIG, "Mine")]),
            Ok(Some(SaslOptions::digest_md5("bob", "pw")))
        );
        assert_eq!(
            sasl_of(&[(JAAS_CONFIG, file), (SASL_CLIENT, "false")]),
            Ok(None)
        );
        assert_eq!(
            sasl_of(&[(SASL_CLIENT, "true")]),
            Ok(None),
            "no JAAS file, no SASL"
        );
        assert!(matches!(
            sasl_of(&[(JAAS_CONFIG, file), (SASL_CLIENT_CONFIG, "Missing")]),
            Err(Error::Jaas(_))
        ));
    }

    #[test]
    fn hostname_verification_is_on_unless_turned_off_explicitly() {
        let on = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.hostnameVerification", "true"),
        ]);
        assert!(!on.unwrap().accepts_invalid_hostnames());
        let off = tls_of(&[
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.hostnameVerification", "false"),
        ]);
        assert!(off.unwrap().accepts_invalid_hostnames());
    }

    #[test]
    fn bcfks_stores_revocation_checks_and_bad_values_are_refused() {
        let refused = |props: &[(&str, &str)]| {
            ClientBuilder::from_properties(
                [("zookeeper.client.secure", "true")]
                    .into_iter()
                    .chain(props.iter().copied()),
            )
            .err()
        };
        let bcfks = refused(&[
            ("zookeeper.ssl.keyStore.location", "/etc/zk/me"),
            ("zookeeper.ssl.keyStore.type", "BCFKS"),
        ]);
        assert!(
            matches!(&bcfks, Some(Error::TlsConfig(m)) if m.contains("keytool")),
            "{bcfks:?}"
        );
        let crl = refused(&[("zookeeper.ssl.crl", "true")]);
        assert!(matches!(crl, Some(Error::TlsConfig(_))));
        let bad_bool = refused(&[("zookeeper.ssl.hostnameVerification", "no")]);
        assert!(matches!(bad_bool, Some(Error::InvalidArgument(_))));
        let bad_number = ClientBuilder::from_properties([("zookeeper.request.timeout", "soon")]);
        assert!(matches!(bad_number, Err(Error::InvalidArgument(_))));
    }
}
