//! SASL credentials for [`ClientBuilder::sasl`](crate::ClientBuilder::sasl): DIGEST-MD5 with
//! a user name and password, or (feature `kerberos`) GSSAPI with Kerberos credentials, given
//! directly or read from a JAAS file as the Java client reads
//! `java.security.auth.login.config`.
//!
//! Owns: [`SaslOptions`], the JAAS errors ([`JaasError`]) and the choice of mechanism for
//! one exchange; the JAAS syntax itself is [`zk_proto::sasl::jaas`], shared with the
//! server. The exchange itself is the session's (see [`crate::session`]); the mechanisms
//! are [`zk_proto::sasl::digest_md5`] and [`zk_proto::sasl::gssapi`] (its Kerberos side in
//! `crate::kerberos`).
//!
//! # JAAS files
//! Java's login configuration syntax, of which the DIGEST-MD5 login module and (with the
//! `kerberos` feature) Kerberos' are understood:
//! ```text
//! // comments: // to the end of the line, or /* ... */
//! Client {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     username="alice"
//!     password="secret";
//! };
//! Kerberos {
//!     com.sun.security.auth.module.Krb5LoginModule required
//!     useKeyTab=true keyTab="/etc/alice.keytab" principal="alice@EXAMPLE.COM";
//! };
//! ```
//! The section is `Client` unless named otherwise (Java's `zookeeper.sasl.clientconfig`).
//! Of `Krb5LoginModule`'s options, `principal`, `useKeyTab`, `keyTab`, `useTicketCache`
//! and `ticketCache` are read (the keytab when `useKeyTab=true`, otherwise the ticket
//! cache); the others (`storeKey`, `doNotPrompt`, `refreshKrb5Config`, ...) change nothing
//! for a client. Without the feature a section whose only modules are Kerberos' is refused
//! with [`JaasErrorKind::UnsupportedModule`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The section Java's client reads by default (`zookeeper.sasl.clientconfig`).
pub const DEFAULT_JAAS_SECTION: &str = "Client";
/// The login module whose `username`/`password` options are DIGEST-MD5 credentials.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// Kerberos' JAAS login module (`Krb5LoginModule`).
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// How a client authenticates with SASL: DIGEST-MD5 credentials, or Kerberos ones for
/// GSSAPI (feature `kerberos`, `SaslOptions::kerberos`).
///
/// ```
/// let sasl = zk_client::SaslOptions::digest_md5("alice", "secret");
/// assert_eq!(sasl.username(), "alice");
/// assert!(!format!("{sasl:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SaslOptions {
    mech: Mech,
}

#[derive(Clone, PartialEq, Eq)]
enum Mech {
    DigestMd5 {
        username: String,
        password: String,
    },
    #[cfg(feature = "kerberos")]
    Kerberos(crate::kerberos::KerberosOptions),
}

impl fmt::Debug for SaslOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password: builders and sessions end up in logs.
        match &self.mech {
            Mech::DigestMd5 { username, .. } => f
                .debug_struct("SaslOptions")
                .field("mechanism", &"DIGEST-MD5")
                .field("username", username)
                .finish_non_exhaustive(),
            #[cfg(feature = "kerberos")]
            Mech::Kerberos(k) => f
                .debug_struct("SaslOptions")
                .field("mechanism", &"GSSAPI")
                .field("kerberos", k)
                .finish(),
        }
    }
}

#[cfg(feature = "kerberos")]
impl From<crate::kerberos::KerberosOptions> for SaslOptions {
    fn from(k: crate::kerberos::KerberosOptions) -> Self {
        Self {
            mech: Mech::Kerberos(k),
        }
    }
}

impl SaslOptions {
    /// DIGEST-MD5 as `username` with `password` (a server's JAAS `Server` section lists it
    /// as `user_<username>="<password>"`).
    pub fn digest_md5(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            mech: Mech::DigestMd5 {
                username: username.into(),
                password: password.into(),
            },
        }
    }

    /// GSSAPI (Kerberos) as `principal` (`alice@REALM`), with its tickets from the default
    /// credential cache (`KRB5CCNAME`, filled by `kinit`). For a keytab and the server
    /// principal's settings, build a [`KerberosOptions`](crate::kerberos::KerberosOptions)
    /// and convert it with `SaslOptions::from`.
    #[cfg(feature = "kerberos")]
    pub fn kerberos(principal: impl Into<String>) -> Self {
        crate::kerberos::KerberosOptions::new(principal).into()
    }

    /// The Kerberos settings, when the mechanism is GSSAPI.
    #[cfg(feature = "kerberos")]
    pub fn kerberos_options(&self) -> Option<&crate::kerberos::KerberosOptions> {
        match &self.mech {
            Mech::Kerberos(k) => Some(k),
            Mech::DigestMd5 { .. } => None,
        }
    }

    /// The SASL mechanism's name: `DIGEST-MD5` or `GSSAPI`.
    pub fn mechanism_name(&self) -> &'static str {
        match &self.mech {
            Mech::DigestMd5 { .. } => "DIGEST-MD5",
            #[cfg(feature = "kerberos")]
            Mech::Kerberos(_) => "GSSAPI",
        }
    }

    /// The credentials of `section` (default [`DEFAULT_JAAS_SECTION`]) of the JAAS file at
    /// `path`.
    ///
    /// # Errors
    /// [`Error::Jaas`] with the file and line: unreadable file, syntax error, no such
    /// section, no DigestLoginModule in it, or no `username`/`password` option.
    pub fn from_jaas_file(path: impl AsRef<Path>, section: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Jaas(JaasError {
                file: Some(path.to_path_buf()),
                line: 0,
                kind: JaasErrorKind::Read(e.to_string()),
            })
        })?;
        Self::from_jaas_str(&text, section).map_err(|e| match e {
            Error::Jaas(mut j) => {
                j.file = Some(path.to_path_buf());
                Error::Jaas(j)
            }
            other => other,
        })
    }

    /// [`SaslOptions::from_jaas_file`] on the file's text (errors name no file).
    pub fn from_jaas_str(text: &str, section: Option<&str>) -> Result<Self> {
        let section = section.unwrap_or(DEFAULT_JAAS_SECTION);
        let err = |line, kind| {
            Error::Jaas(JaasError {
                file: None,
                line,
                kind,
            })
        };
        let sections = zk_proto::sasl::jaas::parse(text)
            .map_err(|e| err(e.line, JaasErrorKind::Syntax(e.message)))?;
        let Some(found) = sections.iter().find(|s| s.name == section) else {
            return Err(err(0, JaasErrorKind::NoSection(section.to_owned())));
        };
        #[cfg(feature = "kerberos")]
        if !found.modules.iter().any(|m| m.class == DIGEST_LOGIN_MODULE) {
            if let Some(module) = found.modules.iter().find(|m| m.class == KRB5_LOGIN_MODULE) {
                return Ok(kerberos_from_jaas(module)
                    .map_err(|kind| err(module.line, kind))?
                    .into());
            }
        }
        let Some(module) = found
            .modules
            .iter()
            .find(|m| m.class == DIGEST_LOGIN_MODULE)
        else {
            return Err(match found.modules.first() {
                Some(m) => err(m.line, JaasErrorKind::UnsupportedModule(m.class.clone())),
                None => err(
                    found.line,
                    JaasErrorKind::Syntax(format!("section {section} has no login module")),
                ),
            });
        };
        let option = |name: &'static str| {
            module
                .options
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| err(module.line, JaasErrorKind::MissingOption(name)))
        };
        Ok(Self::digest_md5(option("username")?, option("password")?))
    }

    /// The user name (DIGEST-MD5) or the client principal (GSSAPI; empty when it is the
    /// credential cache's).
    pub fn username(&self) -> &str {
        match &self.mech {
            Mech::DigestMd5 { username, .. } => username,
            #[cfg(feature = "kerberos")]
            Mech::Kerberos(k) => k.principal().unwrap_or(""),
        }
    }

    /// The mechanism for one exchange with the server reached as `host` (a fresh cnonce or
    /// security context each time).
    ///
    /// # Errors
    /// Why GSSAPI cannot start (no credentials, a bad principal): the exchange cannot be
    /// had at all.
    pub(crate) fn mechanism(&self, host: &str) -> Result<Mechanism, String> {
        let _ = host;
        match &self.mech {
            Mech::DigestMd5 { username, password } => Ok(Mechanism::DigestMd5(
                zk_proto::sasl::DigestMd5Client::new(username.clone(), password.clone()),
            )),
            #[cfg(feature = "kerberos")]
            Mech::Kerberos(k) => Ok(Mechanism::Gssapi(Box::new(k.mechanism(host)?))),
        }
    }
}

/// A mechanism started for one server: it and its first token, or why it cannot start.
pub(crate) type SaslStart = Result<(Mechanism, Vec<u8>), String>;

impl SaslOptions {
    /// Starts the mechanism for the server reached as `host`: [`Self::mechanism`] and its
    /// initial response.
    pub(crate) fn start(&self, host: &str) -> SaslStart {
        let mut mechanism = self.mechanism(host)?;
        let first = mechanism.initial_response()?;
        Ok((mechanism, first))
    }

    /// Whether starting may wait on the network: GSSAPI asks the KDC for credentials and a
    /// service ticket, synchronously, so the driver starts it on a blocking thread.
    pub(crate) fn start_may_block(&self) -> bool {
        match &self.mech {
            Mech::DigestMd5 { .. } => false,
            #[cfg(feature = "kerberos")]
            Mech::Kerberos(_) => true,
        }
    }
}

/// One exchange's mechanism state.
#[derive(Debug)]
pub(crate) enum Mechanism {
    DigestMd5(zk_proto::sasl::DigestMd5Client),
    #[cfg(feature = "kerberos")]
    Gssapi(Box<zk_proto::sasl::GssapiClient<crate::kerberos::Krb5Initiator>>),
}

impl Mechanism {
    /// The first token.
    pub(crate) fn initial_response(&mut self) -> Result<Vec<u8>, String> {
        match self {
            Mechanism::DigestMd5(m) => Ok(m.initial_response()),
            #[cfg(feature = "kerberos")]
            Mechanism::Gssapi(m) => m.initial_response().map_err(|e| e.to_string()),
        }
    }

    /// The answer to the server's `token`.
    pub(crate) fn step(&mut self, token: &[u8]) -> Result<zk_proto::sasl::ClientStep, String> {
        match self {
            Mechanism::DigestMd5(m) => m.step(token).map_err(|e| e.to_string()),
            #[cfg(feature = "kerberos")]
            Mechanism::Gssapi(m) => m.step(token).map_err(|e| e.to_string()),
        }
    }
}

/// The Kerberos settings of a `Krb5LoginModule` entry (see the module docs).
#[cfg(feature = "kerberos")]
fn kerberos_from_jaas(
    module: &zk_proto::sasl::jaas::JaasModule,
) -> Result<crate::kerberos::KerberosOptions, JaasErrorKind> {
    let option = |name: &str| module.option(name);
    let flag = |name: &str| option(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut k = match option("principal") {
        Some(p) => crate::kerberos::KerberosOptions::new(p),
        None => crate::kerberos::KerberosOptions::default_principal(),
    };
    if flag("useKeyTab") {
        let keytab = option("keyTab").ok_or(JaasErrorKind::MissingOption("keyTab"))?;
        if option("principal").is_none() {
            return Err(JaasErrorKind::MissingOption("principal"));
        }
        k = k.with_keytab(keytab);
    } else if let (true, Some(cache)) = (flag("useTicketCache"), option("ticketCache")) {
        k = k.with_ccache(cache);
    }
    Ok(k)
}

/// A JAAS file that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasError {
    /// The file, when read from one.
    pub file: Option<PathBuf>,
    /// The 1-based line, 0 when the error concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub kind: JaasErrorKind,
}

impl fmt::Display for JaasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("JAAS configuration")?,
        }
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// What is wrong with a JAAS file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JaasErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(String),
    /// The text is not JAAS syntax.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// No section of that name.
    #[error("no section named {0:?}")]
    NoSection(String),
    /// The section's login modules are none this build supports (DigestLoginModule, and
    /// Krb5LoginModule with the `kerberos` feature).
    #[error("login module {0} is not supported by this build (DigestLoginModule; Krb5LoginModule needs the kerberos feature)")]
    UnsupportedModule(String),
    /// The login module entry lacks an option it needs.
    #[error("login module has no {0} option")]
    MissingOption(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
/* The server's side,
   not ours. */
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="secret";
};
// ours
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="alice"
    password="se\"cr=et;";
};
Kerberos {
    com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/k";
};
Other { org.apache.zookeeper.server.auth.DigestLoginModule optional username=bob password=pw; };
"#;

    fn kind(text: &str, section: Option<&str>) -> (usize, JaasErrorKind) {
        match SaslOptions::from_jaas_str(text, section) {
            Err(Error::Jaas(e)) => (e.line, e.kind),
            other => panic!("expected a JAAS error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_client_section_by_default_and_others_by_name() {
        assert_eq!(
            SaslOptions::from_jaas_str(FILE, None).unwrap(),
            SaslOptions::digest_md5("alice", "se\"cr=et;")
        );
        assert_eq!(
            SaslOptions::from_jaas_str(FILE, Some("Other")).unwrap(),
            SaslOptions::digest_md5("bob", "pw")
        );
    }

    #[test]
    fn missing_sections_modules_and_options_are_typed_with_lines() {
        assert_eq!(
            kind(FILE, Some("Nope")),
            (0, JaasErrorKind::NoSection("Nope".into()))
        );
        #[cfg(not(feature = "kerberos"))]
        assert_eq!(
            kind(FILE, Some("Kerberos")),
            (
                15,
                JaasErrorKind::UnsupportedModule(
                    "com.sun.security.auth.module.Krb5LoginModule".into()
                )
            )
        );
        assert_eq!(
            kind(FILE, Some("Server")),
            (5, JaasErrorKind::MissingOption("username"))
        );
    }

    #[cfg(feature = "kerberos")]
    #[test]
    fn krb5_login_module_sections_are_kerberos_credentials() {
        use crate::kerberos::KerberosOptions;
        let keytab = SaslOptions::from_jaas_str(FILE, Some("Kerberos"));
        assert_eq!(
            keytab.map_err(|e| e.to_string()),
            Err("JAAS configuration:15: login module has no principal option".into())
        );
        let text = r#"
A { com.sun.security.auth.module.Krb5LoginModule required
    useKeyTab=true keyTab="/k" storeKey=true principal="alice@R"; };
B { com.sun.security.auth.module.Krb5LoginModule required
    useTicketCache=true ticketCache="/tmp/cc" principal="bob@R"; };
C { com.sun.security.auth.module.Krb5LoginModule required; };
D { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal="p"; };
"#;
        let of = |s| SaslOptions::from_jaas_str(text, Some(s));
        assert_eq!(
            of("A").unwrap(),
            KerberosOptions::new("alice@R").with_keytab("/k").into()
        );
        assert_eq!(
            of("B").unwrap(),
            KerberosOptions::new("bob@R").with_ccache("/tmp/cc").into()
        );
        assert_eq!(
            of("C").unwrap(),
            KerberosOptions::default_principal().into()
        );
        assert!(matches!(
            of("D"),
            Err(Error::Jaas(JaasError {
                line: 7,
                kind: JaasErrorKind::MissingOption("keyTab"),
                ..
            }))
        ));
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases = [
            ("Client {\n  m required username=\"a\"\n};", 3),
            ("Client {\n  m wanted username=a;\n};", 2),
            ("Client {\n  m required username a;\n};", 2),
            ("Client {\n  m required username=\"open;\n};", 2),
            ("Client {\n  m required a=b;\n}", 3),
            ("Client\n  m required a=b;\n};", 2),
            ("/* never closed\nClient {};", 1),
            ("{ };", 1),
        ];
        for (text, line) in cases {
            let (got, kind) = kind(text, None);
            assert!(
                matches!(kind, JaasErrorKind::Syntax(_)),
                "{text:?}: {kind:?}"
            );
            assert_eq!(got, line, "{text:?}: {kind:?}");
        }
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        let missing = SaslOptions::from_jaas_file(&path, None).unwrap_err();
        assert!(matches!(
            &missing,
            Error::Jaas(JaasError { kind: JaasErrorKind::Read(_), file: Some(f), .. }) if f == &path
        ));
        std::fs::write(&path, "Client {\n  x required;\n").unwrap();
        let err = SaslOptions::from_jaas_file(&path, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: syntax error", path.display())),
            "{err}"
        );
    }
}
