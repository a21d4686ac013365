//! Key and trust stores for rustls, shared by `zk-client` and `zk-server`: which type a
//! store is, by the rules Apache ZooKeeper's Java side applies, and Java's stores read into
//! rustls' certificate and key types: PKCS#12 (`.p12`, `.pfx`: the default type of
//! `keytool` since Java 9) and JKS (`.jks`, Java's own format, [`jks`]); and encrypted
//! PEM private keys ([`pem_key`]).
//!
//! Pure code on bytes: reading files, PEM (which `rustls-pki-types` reads directly) and
//! building TLS configurations are the callers'. Errors say what is wrong with the store,
//! not which store it is; callers add its name or path.
//!
//! The rules are Java's: a trust store's anchors are its *trusted certificate* entries
//! (`keytool -importcert`; a certificate `openssl pkcs12 -export` stores is not marked
//! trusted and is no anchor), and a key store's identity is a private key entry with the
//! certificate chain stored beside it. `p12-keystore` does the decoding and decryption
//! (PBES2 with AES as current `keytool` and `openssl` write, and the legacy 3DES and RC2
//! schemes of older ones); JKS is simple and old enough to read ourselves.

#![warn(missing_docs)]

pub mod jks;
pub mod pem_key;

use std::path::Path;

pub use jks::{jks_identity, jks_trusted_certificates};
pub use pem_key::{decrypt_pem_key, has_encrypted_key};

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why a store cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// A store type that is not read here (BCFKS or an unknown name).
    #[error(
        "{0} stores are not supported, only PEM, PKCS12 and JKS (convert another Java key \
         store with keytool -importkeystore -srckeystore STORE -destkeystore STORE.p12 \
         -deststoretype PKCS12)"
    )]
    Unsupported(String),
    /// The bytes are not a store of the type, or the password does not open it.
    #[error("cannot open the store: {0}")]
    Open(String),
    /// A trust store without a trusted certificate entry.
    #[error(
        "no trusted certificate entry in the store (Java trusts only certificates \
         imported with keytool -importcert; openssl pkcs12 does not mark them trusted)"
    )]
    NoTrustedCertificate,
    /// A key store without a private key that has its certificate.
    #[error("no private key with its certificate in the store")]
    NoPrivateKey,
}

/// The store types read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// PEM: certificates, and for a key store the private key, in one text file.
    Pem,
    /// PKCS#12, opened with a password.
    Pkcs12,
    /// Java's JKS, opened with a password.
    Jks,
}

impl StoreType {
    /// The type Apache's `….type` properties name (`PEM`, `PKCS12`, `JKS`; any case).
    pub fn from_name(name: &str) -> Result<Self, KeystoreError> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PEM" => Ok(StoreType::Pem),
            "PKCS12" => Ok(StoreType::Pkcs12),
            "JKS" => Ok(StoreType::Jks),
            other => Err(KeystoreError::Unsupported(other.to_owned())),
        }
    }

    /// The type Java infers from a store's file extension when none is named: `.p12` and
    /// `.pfx` are PKCS#12, `.jks` JKS, `.bcfks` is refused, anything else is PEM.
    pub fn from_path(path: &Path) -> Result<Self, KeystoreError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("p12" | "pfx") => Ok(StoreType::Pkcs12),
            Some("jks") => Ok(StoreType::Jks),
            Some("bcfks") => Err(KeystoreError::Unsupported("BCFKS".into())),
            _ => Ok(StoreType::Pem),
        }
    }

    /// The type named if any, else the one the path implies.
    pub fn of(name: Option<&str>, path: &Path) -> Result<Self, KeystoreError> {
        match name {
            Some(name) => Self::from_name(name),
            None => Self::from_path(path),
        }
    }
}

/// The private key of a key store with its certificate chain.
#[derive(Debug)]
pub struct Identity {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// The entry's alias.
    pub alias: String,
    /// How many private key entries the store holds; more than one is worth a warning,
    /// since the first by alias is taken where Java would choose by the peer's key types.
    pub keys_in_store: usize,
}

/// Which reader a Java store named `kind` needs: its content decides between JKS and
/// PKCS#12, as Java's `keystore.type.compat` (on by default) lets either type open the
/// other. Since Java 9 `keytool` writes PKCS#12 unless told otherwise, whatever the file
/// is called, so the `keystore.jks` that Apache's documented command makes is PKCS#12.
fn java_format(kind: StoreType, store: &[u8]) -> Result<StoreType, KeystoreError> {
    match kind {
        StoreType::Pem => Err(KeystoreError::Unsupported("PEM (read as PEM)".into())),
        _ if store.starts_with(&jks::MAGIC.to_be_bytes()) => Ok(StoreType::Jks),
        _ => Ok(StoreType::Pkcs12),
    }
}

/// The trusted certificates of a Java trust store (PKCS#12 or JKS, whichever its content
/// is; PEM is read by the caller and is [`KeystoreError::Unsupported`] here).
pub fn trusted_certificates(
    kind: StoreType,
    store: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    match java_format(kind, store)? {
        StoreType::Jks => jks_trusted_certificates(store, password),
        _ => pkcs12_trusted_certificates(store, password),
    }
}

/// The identity of a Java key store (PKCS#12 or JKS, as [`trusted_certificates`]).
pub fn identity(kind: StoreType, store: &[u8], password: &str) -> Result<Identity, KeystoreError> {
    match java_format(kind, store)? {
        StoreType::Jks => jks_identity(store, password),
        _ => pkcs12_identity(store, password),
    }
}

/// Opens a store, keeping what Java keeps: a key without its certificate, or a
/// certificate that is neither a key's nor marked trusted, is left out.
fn open(store: &[u8], password: &str) -> Result<KeyStore, KeystoreError> {
    KeyStore::from_pkcs12(store, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
        KeystoreError::Open(format!(
            "wrong password, or neither a PKCS#12 nor a JKS store: {e}"
        ))
    })
}

/// The trusted certificate entries of a PKCS#12 trust store; at least one.
pub fn pkcs12_trusted_certificates(
    store: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    let certs: Vec<CertificateDer<'static>> = open(store, password)?
        .entries()
        .filter_map(|(_, entry)| match entry {
            KeyStoreEntry::Certificate(cert) => Some(CertificateDer::from(cert.as_der().to_vec())),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(KeystoreError::NoTrustedCertificate);
    }
    Ok(certs)
}

/// The first private key entry (by alias) of a PKCS#12 key store, with its chain.
pub fn pkcs12_identity(store: &[u8], password: &str) -> Result<Identity, KeystoreError> {
    let store = open(store, password)?;
    let keys_in_store = store
        .entries()
        .filter(|(_, entry)| matches!(entry, KeyStoreEntry::PrivateKeyChain(_)))
        .count();
    let (alias, chain) = store
        .private_key_chain()
        .ok_or(KeystoreError::NoPrivateKey)?;
    Ok(Identity {
        chain: chain
            .certs()
            .iter()
            .map(|cert| CertificateDer::from(cert.as_der().to_vec()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
        alias: alias.to_owned(),
        keys_in_store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name_or_extension_as_java_infers_them() {
        assert_eq!(StoreType::from_name("pkcs12"), Ok(StoreType::Pkcs12));
        assert_eq!(StoreType::from_name(" PEM "), Ok(StoreType::Pem));
        assert_eq!(StoreType::from_name("jks"), Ok(StoreType::Jks));
        assert!(matches!(
            StoreType::from_name("BCFKS"),
            Err(KeystoreError::Unsupported(n)) if n == "BCFKS"
        ));
        let of = |p: &str| StoreType::from_path(Path::new(p));
        assert_eq!(of("/etc/zk/trust.P12"), Ok(StoreType::Pkcs12));
        assert_eq!(of("client.pfx"), Ok(StoreType::Pkcs12));
        assert_eq!(of("/etc/zk/ca.pem"), Ok(StoreType::Pem));
        assert_eq!(of("/etc/zk/keystore"), Ok(StoreType::Pem));
        assert_eq!(of("/etc/zk/keystore.jks"), Ok(StoreType::Jks));
        assert!(of("/etc/zk/keystore.bcfks").is_err());
        // A named type wins over the extension.
        assert_eq!(
            StoreType::of(Some("PKCS12"), Path::new("store.jks")),
            Ok(StoreType::Pkcs12)
        );
        let message = StoreType::from_name("BCFKS").unwrap_err().to_string();
        assert!(message.contains("keytool -importkeystore"), "{message}");
    }

    #[test]
    fn either_java_type_opens_either_format_as_java_does() {
        // A JKS store's magic sends it to the JKS reader whatever it was called: a store
        // with no entries and a digest for the empty password.
        let mut jks = Vec::new();
        jks.extend(jks::MAGIC.to_be_bytes());
        jks.extend(2u32.to_be_bytes());
        jks.extend(0u32.to_be_bytes());
        let mut sha = <sha1::Sha1 as sha1::Digest>::new();
        sha1::Digest::update(&mut sha, b"Mighty Aphrodite");
        sha1::Digest::update(&mut sha, &jks);
        jks.extend(sha1::Digest::finalize(sha));
        for kind in [StoreType::Jks, StoreType::Pkcs12] {
            assert_eq!(
                trusted_certificates(kind, &jks, ""),
                Err(KeystoreError::NoTrustedCertificate),
                "{kind:?}: read as JKS, found empty"
            );
            assert!(matches!(
                identity(kind, b"\x30\x03\x02\x01\x03", "pw"),
                Err(KeystoreError::Open(m)) if m.contains("PKCS#12")
            ));
        }
    }

    #[test]
    fn garbage_and_empty_input_are_errors_not_panics() {
        for bytes in [
            &b""[..],
            b"not a store",
            &[0x30, 0x82, 0xff, 0xff, 0x02][..],
        ] {
            assert!(matches!(
                pkcs12_identity(bytes, "pw"),
                Err(KeystoreError::Open(_))
            ));
            assert!(matches!(
                pkcs12_trusted_certificates(bytes, "pw"),
                Err(KeystoreError::Open(_))
            ));
        }
    }

    #[test]
    fn random_der_like_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..5_000 {
            let len = rng.gen_range(0..300);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(first) = bytes.first_mut() {
                // Mostly a DER SEQUENCE, so the decoder gets past the first byte.
                *first = 0x30;
            }
            assert!(pkcs12_identity(&bytes, "pw").is_err());
            assert!(pkcs12_trusted_certificates(&bytes, "pw").is_err());
        }
    }
}
