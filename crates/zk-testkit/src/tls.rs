//! Throwaway certificates for TLS tests, made at test time so no private key is ever
//! committed.
//!
//! Owns a test certificate authority ([`TestCa`]) that issues server and client
//! certificates as PEM files in a directory, in the layouts both sides need: Apache's PEM
//! key store (private key and certificate in one file), its PEM trust store (the CA
//! certificate), and a client's separate certificate and key files. Made with `rcgen`
//! (ECDSA P-256), so no `openssl` binary is needed.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::{Result, TestkitError};

/// A certificate authority for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
    name: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A certificate a [`TestCa`] issued, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
    /// Key and certificate in one file: Apache's `ssl.keyStore.type=PEM` key store.
    pub key_store: PathBuf,
}

impl TestCa {
    /// A new CA named `name` (its files are `dir/name-*.pem`).
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Result<Self> {
        let dir = dir.into();
        let key = KeyPair::generate().map_err(cert_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("zkmesh test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(cert_error)?;
        let ca = TestCa {
            cert,
            key,
            dir,
            name: name.to_owned(),
        };
        write(&ca.cert_path(), ca.cert.pem().as_bytes())?;
        Ok(ca)
    }

    /// The CA certificate (a PEM trust store, for either side).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// Issues a certificate valid for `names` (host names or IP addresses, as subject
    /// alternative names) for both server and client authentication, written as
    /// `dir/<ca>-<file>.pem` and friends.
    pub fn issue(&self, file: &str, names: &[&str]) -> Result<Issued> {
        self.issue_with(file, names, |_| {})
    }

    /// Like [`TestCa::issue`], for a certificate that expired in 2001.
    pub fn issue_expired(&self, file: &str, names: &[&str]) -> Result<Issued> {
        self.issue_with(file, names, |params| {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        })
    }

    fn issue_with(
        &self,
        file: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Result<Issued> {
        let key = KeyPair::generate().map_err(cert_error)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(cert_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("zkmesh test {file}"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        adjust(&mut params);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(cert_error)?;
        let base = self.dir.join(format!("{}-{file}", self.name));
        let issued = Issued {
            cert: base.with_extension("crt.pem"),
            key: base.with_extension("key.pem"),
            key_store: base.with_extension("keystore.pem"),
        };
        let key_pem = key.serialize_pem();
        write(&issued.cert, cert.pem().as_bytes())?;
        write(&issued.key, key_pem.as_bytes())?;
        write(
            &issued.key_store,
            format!("{key_pem}{}", cert.pem()).as_bytes(),
        )?;
        Ok(issued)
    }
}

impl TestCa {
    /// `issued` with its private key encrypted with `password` (`openssl pkcs8 -topk8`,
    /// OpenSSL 3's defaults: PBES2, PBKDF2, AES-256-CBC), in new files beside it: the
    /// key alone and Apache's PEM key store layout (encrypted key and certificate).
    pub fn encrypt_key(&self, issued: &Issued, password: &str) -> Result<Issued> {
        let key = issued.key.with_extension("enc-key.pem");
        let pass = format!("pass:{password}");
        command(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-in",
                &path_arg(&issued.key),
                "-out",
                &path_arg(&key),
                "-passout",
                &pass,
            ],
        )?;
        let key_pem = std::fs::read(&key)
            .map_err(|e| TestkitError::io(format!("reading {}", key.display()), e))?;
        let cert_pem = std::fs::read(&issued.cert)
            .map_err(|e| TestkitError::io(format!("reading {}", issued.cert.display()), e))?;
        let key_store = issued.key_store.with_extension("enc-keystore.pem");
        write(&key_store, &[key_pem, cert_pem].concat())?;
        Ok(Issued {
            cert: issued.cert.clone(),
            key,
            key_store,
        })
    }
}

/// A Java key or trust store format, as Apache's `ssl.keyStore.type` names them, and the
/// tool that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JavaStore {
    /// PKCS#12 (`.p12`), made with `openssl pkcs12 -export` (OpenSSL 3: AES-256 and
    /// HMAC-SHA256).
    Pkcs12,
    /// PKCS#12 made with `openssl pkcs12 -export -legacy`, as OpenSSL 1.x made them
    /// (3DES for the key, RC2-40 for the certificates, HMAC-SHA1).
    Pkcs12Legacy,
    /// PKCS#12 converted from [`JavaStore::Pkcs12`] by `keytool -importkeystore`.
    Pkcs12Keytool,
    /// Java's own format (`.jks`), converted from PKCS#12 with `keytool -importkeystore`.
    Jks,
}

impl TestCa {
    /// `issued`'s key and certificate as a Java key store protected by `password`, made
    /// the way Apache's users make them (`openssl`, then `keytool` for JKS), next to it.
    pub fn java_key_store(
        &self,
        issued: &Issued,
        kind: JavaStore,
        password: &str,
    ) -> Result<PathBuf> {
        let legacy = kind == JavaStore::Pkcs12Legacy;
        let p12 = issued
            .key_store
            .with_extension(if legacy { "legacy.p12" } else { "p12" });
        let pass = format!("pass:{password}");
        let (cert, key, out) = (
            path_arg(&issued.cert),
            path_arg(&issued.key),
            path_arg(&p12),
        );
        let mut args = vec![
            "pkcs12", "-export", "-in", &cert, "-inkey", &key, "-name", "server", "-out", &out,
            "-passout", &pass,
        ];
        if legacy {
            args.push("-legacy");
        }
        command("openssl", &args)?;
        let (extension, store_type) = match kind {
            JavaStore::Pkcs12 | JavaStore::Pkcs12Legacy => return Ok(p12),
            JavaStore::Pkcs12Keytool => ("keytool.p12", "PKCS12"),
            JavaStore::Jks => ("jks", "JKS"),
        };
        let converted = issued.key_store.with_extension(extension);
        command(
            "keytool",
            &[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                &path_arg(&p12),
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                password,
                "-destkeystore",
                &path_arg(&converted),
                "-deststoretype",
                store_type,
                "-deststorepass",
                password,
            ],
        )?;
        Ok(converted)
    }

    /// The CA certificate as a JKS trust store protected by `password` (`keytool
    /// -importcert`).
    pub fn java_trust_store(&self, password: &str) -> Result<PathBuf> {
        self.keytool_trust_store("jks", "JKS", password)
    }

    /// The CA certificate as a PKCS#12 trust store protected by `password`, made by
    /// `keytool -importcert` (which marks it trusted, as Java requires of a trust anchor).
    pub fn pkcs12_trust_store(&self, password: &str) -> Result<PathBuf> {
        self.keytool_trust_store("p12", "PKCS12", password)
    }

    fn keytool_trust_store(&self, extension: &str, kind: &str, password: &str) -> Result<PathBuf> {
        let store = self.dir.join(format!("{}-trust.{extension}", self.name));
        command(
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                &path_arg(&self.cert_path()),
                "-keystore",
                &path_arg(&store),
                "-storetype",
                kind,
                "-storepass",
                password,
            ],
        )?;
        Ok(store)
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Runs a store-making tool to completion; its output on failure.
fn command(program: &str, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| TestkitError::io(format!("running {program}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestkitError::Parse(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))
}

fn cert_error(e: rcgen::Error) -> TestkitError {
    TestkitError::Parse(format!("making a test certificate: {e}"))
}
