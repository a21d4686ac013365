//! Encrypted PEM private keys: `-----BEGIN ENCRYPTED PRIVATE KEY-----`, PKCS#8's
//! `EncryptedPrivateKeyInfo` (PBES2 with PBKDF2 or scrypt and AES, or 3DES), as
//! `openssl pkcs8 -topk8` writes them and Apache's PEM key stores hold them, opened with
//! `ssl.keyStore.password`.
//!
//! Owns finding the encrypted key in a PEM document and decrypting it; `pkcs8` does the
//! cryptography. Plain PEM keys and certificates are the callers' (`rustls-pki-types`).

use base64::Engine;
use pkcs8::EncryptedPrivateKeyInfoRef;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::KeystoreError;

const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// Whether a PEM document holds an encrypted private key.
pub fn has_encrypted_key(pem: &[u8]) -> bool {
    pem.windows(BEGIN.len()).any(|w| w == BEGIN.as_bytes())
}

/// The encrypted private key of a PEM document, decrypted with `password`; `Ok(None)` if
/// the document holds no encrypted key.
pub fn decrypt_pem_key(
    pem: &[u8],
    password: &str,
) -> Result<Option<PrivateKeyDer<'static>>, KeystoreError> {
    let text = String::from_utf8_lossy(pem);
    let Some(start) = text.find(BEGIN) else {
        return Ok(None);
    };
    let body = &text[start + BEGIN.len()..];
    let end = body.find(END).ok_or_else(|| {
        KeystoreError::Open("an ENCRYPTED PRIVATE KEY block without its END line".into())
    })?;
    let base64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| KeystoreError::Open(format!("the encrypted key is not base64: {e}")))?;
    let info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| KeystoreError::Open(format!("the encrypted key is not PKCS#8: {e}")))?;
    let plain = info.decrypt(password).map_err(|e| {
        KeystoreError::Open(format!(
            "cannot decrypt the private key (wrong ssl.keyStore.password, or an unsupported \
             cipher): {e}"
        ))
    })?;
    Ok(Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_without_an_encrypted_key_give_none_and_broken_ones_an_error() {
        let plain =
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert!(!has_encrypted_key(plain));
        assert_eq!(decrypt_pem_key(plain, "pw").map(|k| k.is_some()), Ok(false));
        for broken in [
            format!("{BEGIN}\nAAAA\n"),
            format!("{BEGIN}\n!!not base64!!\n{END}\n"),
            format!("{BEGIN}\nMAMCAQA=\n{END}\n"),
        ] {
            assert!(has_encrypted_key(broken.as_bytes()));
            assert!(
                matches!(
                    decrypt_pem_key(broken.as_bytes(), "pw"),
                    Err(KeystoreError::Open(_))
                ),
                "{broken}"
            );
        }
    }
}
