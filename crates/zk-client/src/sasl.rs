//! SASL credentials for [`ClientBuilder::sasl`](crate::ClientBuilder::sasl): DIGEST-MD5 with
//! a user name and password, given directly or read from a JAAS file as the Java client
//! reads `java.security.auth.login.config`.
//!
//! Owns: [`SaslOptions`] and the JAAS errors ([`JaasError`]); the JAAS syntax itself is
//! [`zk_proto::sasl::jaas`], shared with the server. The exchange
//! itself is the session's (see [`crate::session`]); the mechanism is
//! [`zk_proto::sasl::digest_md5`].
//!
//! # JAAS files
//! Java's login configuration syntax, of which only the DIGEST-MD5 login module is
//! understood:
//! ```text
//! // comments: // to the end of the line, or /* ... */
//! Client {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     username="alice"
//!     password="secret";
//! };
//! ```
//! The section is `Client` unless named otherwise (Java's `zookeeper.sasl.clientconfig`).
//! A section whose only modules are others (Kerberos' `Krb5LoginModule`) is refused: this
//! client does no GSSAPI.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The section Java's client reads by default (`zookeeper.sasl.clientconfig`).
pub const DEFAULT_JAAS_SECTION: &str = "Client";
/// The login module whose `username`/`password` options are DIGEST-MD5 credentials.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// How a client authenticates with SASL: DIGEST-MD5 credentials.
///
/// ```
/// let sasl = zk_client::SaslOptions::digest_md5("alice", "secret");
/// assert_eq!(sasl.username(), "alice");
/// assert!(!format!("{sasl:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SaslOptions {
    username: String,
    password: String,
}

impl fmt::Debug for SaslOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password: builders and sessions end up in logs.
        f.debug_struct("SaslOptions")
            .field("mechanism", &"DIGEST-MD5")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SaslOptions {
    /// DIGEST-MD5 as `username` with `password` (a server's JAAS `Server` section lists it
    /// as `user_<username>="<password>"`).
    pub fn digest_md5(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
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

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The mechanism for one exchange (a fresh cnonce each time).
    pub(crate) fn mechanism(&self) -> zk_proto::sasl::DigestMd5Client {
        zk_proto::sasl::DigestMd5Client::new(self.username.clone(), self.password.clone())
    }
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
    /// The section's login modules are not DigestLoginModule.
    #[error("login module {0} is not supported (only {DIGEST_LOGIN_MODULE}, DIGEST-MD5)")]
    UnsupportedModule(String),
    /// The DigestLoginModule entry lacks an option.
    #[error("DigestLoginModule has no {0} option")]
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
