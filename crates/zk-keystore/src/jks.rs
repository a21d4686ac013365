//! Java's own key store format (`.jks`), which Apache ZooKeeper's documentation and most
//! existing deployments use: read, never written.
//!
//! Owns the format (as `sun.security.provider.JavaKeyStore` writes it) and its two
//! password uses: the store's integrity digest and the key protector, Sun's
//! SHA-1-keystream cipher for private keys. Every length in the file is checked against
//! what is left of it before anything is read or allocated, so a corrupt or hostile file
//! is an error, never a panic or a huge allocation.
//!
//! Layout: magic `FEEDFEED`, version (1 or 2), entry count, then per entry a tag (1: a
//! private key with its certificate chain, 2: a trusted certificate), an alias
//! (`DataOutput.writeUTF`), a timestamp and the entry's data (in version 2 each
//! certificate is preceded by its type name), and last the SHA-1 of the password (UTF-16
//! big-endian), the bytes `Mighty Aphrodite` and everything before the digest.

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};

use crate::{Identity, KeystoreError};

/// The first four bytes of a JKS store.
pub(crate) const MAGIC: u32 = 0xFEED_FEED;
/// The OID of Sun's key protector, 1.3.6.1.4.1.42.2.17.1.1, as DER content bytes.
const KEY_PROTECTOR_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];
const DIGEST_LEN: usize = 20;

/// One entry of a JKS store.
enum Entry {
    /// A protected private key with its certificate chain (leaf first).
    Key {
        alias: String,
        protected: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    /// A trusted certificate.
    Trusted(Vec<u8>),
}

/// Reads a JKS store's entries, checking its integrity digest when `password` is not
/// empty. Java checks it whenever a password is given at all, even an empty one; here an
/// empty password means none was configured, which Java loads unchecked.
fn entries(store: &[u8], password: &str) -> Result<Vec<Entry>, KeystoreError> {
    let corrupt = |what: &str| KeystoreError::Open(format!("not a JKS store, or corrupt: {what}"));
    let body_len = store
        .len()
        .checked_sub(DIGEST_LEN)
        .ok_or_else(|| corrupt("too short"))?;
    let (body, digest) = store.split_at(body_len);
    let mut r = Reader { rest: body };
    if r.u32()? != MAGIC {
        return Err(corrupt("no JKS magic number"));
    }
    let version = r.u32()?;
    if version != 1 && version != 2 {
        return Err(corrupt("unknown version"));
    }
    let count = r.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let tag = r.u32()?;
        let alias = r.utf()?;
        let _timestamp = r.bytes(8)?;
        match tag {
            1 => {
                let protected = r.sized()?.to_vec();
                let certs = r.u32()?;
                let mut chain = Vec::new();
                for _ in 0..certs {
                    chain.push(r.certificate(version)?);
                }
                entries.push(Entry::Key {
                    alias,
                    protected,
                    chain,
                });
            }
            2 => entries.push(Entry::Trusted(r.certificate(version)?)),
            // Tag 3 is a secret key, only in JCEKS stores: nothing for TLS.
            _ => return Err(corrupt("an entry of unknown kind")),
        }
    }
    if !r.rest.is_empty() {
        return Err(corrupt("bytes after the last entry"));
    }
    if !password.is_empty() {
        let mut sha = Sha1::new();
        sha.update(utf16_be(password));
        sha.update(b"Mighty Aphrodite");
        sha.update(body);
        if sha.finalize().as_slice() != digest {
            return Err(KeystoreError::Open(
                "the JKS store's integrity check failed (wrong password, or a corrupt store)"
                    .into(),
            ));
        }
    }
    Ok(entries)
}

/// A password as Java hashes it: each UTF-16 unit, big-endian.
fn utf16_be(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Bounds-checked reads from the front of a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], KeystoreError> {
        if n > self.rest.len() {
            return Err(KeystoreError::Open(
                "not a JKS store, or corrupt: a length runs past the end".into(),
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, KeystoreError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A block preceded by its 4-byte length.
    fn sized(&mut self) -> Result<&'a [u8], KeystoreError> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }

    /// `DataInput.readUTF`: a 2-byte length, then modified UTF-8 (aliases are ASCII in
    /// practice; anything else is kept lossily, since an alias is only a label here).
    fn utf(&mut self) -> Result<String, KeystoreError> {
        let n = self.bytes(2)?;
        let n = usize::from(u16::from_be_bytes([n[0], n[1]]));
        Ok(String::from_utf8_lossy(self.bytes(n)?).into_owned())
    }

    fn certificate(&mut self, version: u32) -> Result<Vec<u8>, KeystoreError> {
        if version == 2 {
            let kind = self.utf()?;
            if kind != "X.509" {
                return Err(KeystoreError::Open(format!(
                    "a certificate of type {kind}, not X.509"
                )));
            }
        }
        Ok(self.sized()?.to_vec())
    }
}

/// Reads one DER element (tag, definite length, content) from the front of `input`.
fn der<'a>(input: &mut &'a [u8], tag: u8) -> Result<&'a [u8], KeystoreError> {
    let bad = || KeystoreError::Open("the protected key is not the DER Java writes".into());
    let (&found, rest) = input.split_first().ok_or_else(bad)?;
    if found != tag {
        return Err(bad());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || n > rest.len() {
            return Err(bad());
        }
        let (len_bytes, tail) = rest.split_at(n);
        rest = tail;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if len > rest.len() {
        return Err(bad());
    }
    let (content, tail) = rest.split_at(len);
    *input = tail;
    Ok(content)
}

/// Recovers a private key from Sun's key protector: `EncryptedPrivateKeyInfo` whose data
/// is a 20-byte salt, the key XORed with a SHA-1 keystream of the password and the salt,
/// and a SHA-1 of the password and the plain key, which tells a wrong password.
fn recover_key(protected: &[u8], password: &str) -> Result<Vec<u8>, KeystoreError> {
    let mut input = protected;
    let mut info = der(&mut input, 0x30)?;
    let mut algorithm = der(&mut info, 0x30)?;
    if der(&mut algorithm, 0x06)? != KEY_PROTECTOR_OID {
        return Err(KeystoreError::Open(
            "the private key is protected by an algorithm other than Sun's JKS key protector"
                .into(),
        ));
    }
    let data = der(&mut info, 0x04)?;
    let key_len = data
        .len()
        .checked_sub(2 * DIGEST_LEN)
        .ok_or_else(|| KeystoreError::Open("the protected key is too short".into()))?;
    let (salt, rest) = data.split_at(DIGEST_LEN);
    let (encrypted, check) = rest.split_at(key_len);
    let password = utf16_be(password);
    let key = keystream_xor(&password, salt, encrypted);
    let mut sha = Sha1::new();
    sha.update(&password);
    sha.update(&key);
    if sha.finalize().as_slice() != check {
        return Err(KeystoreError::Open(
            "the private key's password is wrong (JKS keys are read with the store's \
             password)"
                .into(),
        ));
    }
    Ok(key)
}

/// `data` XORed with the key protector's keystream: SHA-1 of the password and the
/// previous block (the salt first), 20 bytes at a time. Its own inverse.
fn keystream_xor(password: &[u8], salt: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut block = salt.to_vec();
    for chunk in data.chunks(DIGEST_LEN) {
        let mut sha = Sha1::new();
        sha.update(password);
        sha.update(&block);
        block = sha.finalize().to_vec();
        out.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
    }
    out
}

/// The trusted certificate entries of a JKS trust store; at least one.
pub fn jks_trusted_certificates(
    store: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    let certs: Vec<CertificateDer<'static>> = entries(store, password)?
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Trusted(der) => Some(CertificateDer::from(der)),
            Entry::Key { .. } => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(KeystoreError::NoTrustedCertificate);
    }
    Ok(certs)
}

/// The first private key entry (by alias, as the PKCS#12 reader) of a JKS key store, its
/// key recovered with the store's `password` (Apache uses one password for both).
pub fn jks_identity(store: &[u8], password: &str) -> Result<Identity, KeystoreError> {
    let mut keys: Vec<(String, Vec<u8>, Vec<Vec<u8>>)> = entries(store, password)?
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Key {
                alias,
                protected,
                chain,
            } if !chain.is_empty() => Some((alias, protected, chain)),
            _ => None,
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let keys_in_store = keys.len();
    let (alias, protected, chain) = keys.into_iter().next().ok_or(KeystoreError::NoPrivateKey)?;
    let key = recover_key(&protected, password)?;
    Ok(Identity {
        chain: chain.into_iter().map(CertificateDer::from).collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        alias,
        keys_in_store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with `entries` as its body, its digest made with `password`.
    fn store(version: u32, entries: &[Vec<u8>], password: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(MAGIC.to_be_bytes());
        body.extend(version.to_be_bytes());
        body.extend((entries.len() as u32).to_be_bytes());
        for e in entries {
            body.extend(e);
        }
        let mut sha = Sha1::new();
        sha.update(utf16_be(password));
        sha.update(b"Mighty Aphrodite");
        sha.update(&body);
        body.extend(sha.finalize());
        body
    }

    fn trusted(cert: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend(2u32.to_be_bytes());
        e.extend(2u16.to_be_bytes());
        e.extend(b"ca");
        e.extend(0u64.to_be_bytes());
        e.extend(5u16.to_be_bytes());
        e.extend(b"X.509");
        e.extend((cert.len() as u32).to_be_bytes());
        e.extend(cert);
        e
    }

    #[test]
    fn trusted_entries_come_out_and_the_digest_tells_a_wrong_password() {
        let bytes = store(2, &[trusted(b"cert-1"), trusted(b"cert-2")], "changeit");
        let certs = jks_trusted_certificates(&bytes, "changeit").expect("trusted certificates");
        assert_eq!(
            certs,
            [
                CertificateDer::from(&b"cert-1"[..]),
                CertificateDer::from(&b"cert-2"[..])
            ]
        );
        // No password: no integrity check, as in Java.
        assert_eq!(
            jks_trusted_certificates(&bytes, "")
                .expect("unchecked")
                .len(),
            2
        );
        let wrong = jks_trusted_certificates(&bytes, "wrong").expect_err("wrong password");
        assert!(wrong.to_string().contains("integrity"), "{wrong}");
        assert!(matches!(
            jks_identity(&bytes, "changeit"),
            Err(KeystoreError::NoPrivateKey)
        ));
    }

    #[test]
    fn a_key_is_recovered_with_its_password_and_refused_with_another() {
        // Protect a key the way Java does, then read it back.
        let plain = b"a PKCS#8 key, longer than one twenty-byte block".to_vec();
        let password = utf16_be("changeit");
        let salt = [7u8; DIGEST_LEN];
        let encrypted = keystream_xor(&password, &salt, &plain);
        assert_ne!(encrypted, plain);
        let mut sha = Sha1::new();
        sha.update(&password);
        sha.update(&plain);
        let mut data = salt.to_vec();
        data.extend(&encrypted);
        data.extend(sha.finalize());
        let mut algorithm = vec![0x06, KEY_PROTECTOR_OID.len() as u8];
        algorithm.extend(KEY_PROTECTOR_OID);
        algorithm.extend([0x05, 0x00]);
        let mut info = vec![0x30, algorithm.len() as u8];
        info.extend(&algorithm);
        info.extend([0x04, data.len() as u8]);
        info.extend(&data);
        let mut protected = vec![0x30, info.len() as u8];
        protected.extend(&info);

        assert_eq!(
            recover_key(&protected, "changeit").expect("recovered"),
            plain
        );
        let wrong = recover_key(&protected, "other").expect_err("wrong password");
        assert!(wrong.to_string().contains("password"), "{wrong}");
    }

    #[test]
    fn truncated_and_random_input_is_an_error_never_a_panic() {
        let good = store(2, &[trusted(b"cert")], "pw");
        for cut in 0..good.len() {
            assert!(
                jks_trusted_certificates(&good[..cut], "pw").is_err(),
                "cut at {cut}"
            );
        }
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            // Flip a few bytes past the magic: lengths and counts go wild.
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(4..bytes.len());
                bytes[i] = rng.gen();
            }
            let _ = jks_trusted_certificates(&bytes, "");
            let _ = jks_identity(&bytes, "");
            let len = rng.gen_range(0..64);
            let noise: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            assert!(recover_key(&noise, "pw").is_err());
        }
    }
}
