//! PKCS#12 key and trust stores (`.p12`, `.pfx`; Java's default store type, and what
//! `keytool` makes unless told otherwise): the client certificate and key, or the trusted
//! CA certificates, that a Java client of the same ensemble is configured with.
//!
//! Owns turning a store's bytes and password into rustls' certificates and key, with the
//! rules Java applies: a trust store's anchors are its *trusted certificate* entries
//! (`keytool -importcert`), and a key store's identity is its private key entry with the
//! certificate chain stored beside it. Reading the file and building the TLS
//! configuration are [`crate::tls`]'s.
//!
//! `p12-keystore` does the PKCS#12 decoding and decryption (the AES-based encryption of
//! current `keytool` and `openssl`, and the legacy 3DES of older ones), in pure Rust.

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// Opens a store; `what` names it in errors.
fn open(store: &[u8], password: &str, what: &str) -> Result<KeyStore> {
    // Strict: a key without its certificate, or a certificate that is neither a key's
    // nor marked trusted, is left out, as Java leaves it out.
    KeyStore::from_pkcs12(store, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
        Error::TlsConfig(format!(
            "{what}: cannot open it as a PKCS#12 store (wrong password, or not PKCS#12): {e}"
        ))
    })
}

/// The trusted certificate entries of a trust store; at least one.
pub(crate) fn trusted_certificates(
    store: &[u8],
    password: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>> {
    let store = open(store, password, what)?;
    let certs: Vec<CertificateDer<'static>> = store
        .entries()
        .filter_map(|(_, entry)| match entry {
            KeyStoreEntry::Certificate(cert) => Some(CertificateDer::from(cert.as_der().to_vec())),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(Error::TlsConfig(format!(
            "{what}: no trusted certificate entry in the PKCS#12 store (Java trusts only \
             certificates imported with keytool -importcert; openssl pkcs12 does not mark \
             them trusted)"
        )));
    }
    Ok(certs)
}

/// The private key and its certificate chain (leaf first) of a key store. A store with
/// several keys gives the first by alias, with a warning: Java would pick by the
/// server's requested key types, which a single-identity client does not need.
pub(crate) fn identity(
    store: &[u8],
    password: &str,
    what: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let store = open(store, password, what)?;
    let keys = store
        .entries()
        .filter(|(_, entry)| matches!(entry, KeyStoreEntry::PrivateKeyChain(_)))
        .count();
    let Some((alias, chain)) = store.private_key_chain() else {
        return Err(Error::TlsConfig(format!(
            "{what}: no private key with its certificate in the PKCS#12 store"
        )));
    };
    if keys > 1 {
        tracing::warn!(
            store = what,
            alias,
            keys,
            "PKCS#12 store holds several keys; using the first"
        );
    }
    let certs = chain
        .certs()
        .iter()
        .map(|cert| CertificateDer::from(cert.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_input_are_config_errors_not_panics() {
        for bytes in [
            &b""[..],
            b"not a store",
            &[0x30, 0x82, 0xff, 0xff, 0x02][..],
        ] {
            let err = identity(bytes, "pw", "key store").expect_err("garbage");
            assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
            assert!(err.to_string().contains("key store"), "{err}");
            let err = trusted_certificates(bytes, "pw", "trust store").expect_err("garbage");
            assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
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
            assert!(identity(&bytes, "pw", "key store").is_err());
            assert!(trusted_certificates(&bytes, "pw", "trust store").is_err());
        }
    }
}
