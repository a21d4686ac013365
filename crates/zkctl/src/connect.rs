//! Turning the global options (`--server`, `--chroot`, `--auth`, `--tls*` including a
//! Java client's TLS properties file, `--sasl`,
//! `--jaas`, `--timeout`) into a ZooKeeper session or a discovery service.

use std::time::Duration;

use std::path::PathBuf;

use zk_client::{properties, Client, ClientBuilder, SaslOptions, TlsOptions};
use zk_discovery::{CacheOptions, ServiceDiscovery};

use crate::cli::Cli;
use crate::error::{CtlError, Result};

/// The connection settings of one invocation.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The connect string, as given.
    pub server: String,
    chroot: Option<String>,
    auth: Option<String>,
    tls: Option<Tls>,
    sasl: Option<Sasl>,
    timeout: Duration,
    /// Largest reply accepted (the client's default, as `jute.maxbuffer`, unless set).
    max_frame: Option<usize>,
}

/// Where SASL credentials come from.
#[derive(Debug, Clone)]
enum Sasl {
    /// `USER:PASSWORD` for DIGEST-MD5.
    Digest(String),
    /// A JAAS file's `Client` section.
    Jaas(PathBuf),
}

/// How to connect over TLS.
#[derive(Debug, Clone)]
enum Tls {
    /// From the `--tls-*` flags.
    Flags {
        /// The CA bundle; the system's roots without one.
        ca: Option<PathBuf>,
        /// A client certificate and its key, for mutual TLS.
        client: Option<(PathBuf, PathBuf)>,
    },
    /// From a Java client's TLS properties file (`--tls-config`).
    Properties(PathBuf),
}

impl Tls {
    fn options(&self) -> Result<TlsOptions> {
        match self {
            Tls::Flags { ca, client } => {
                let options = match ca {
                    Some(ca) => TlsOptions::with_ca_pem_file(ca.clone()),
                    None => TlsOptions::with_system_roots(),
                };
                Ok(match client {
                    Some((cert, key)) => options.client_cert_pem_files(cert.clone(), key.clone()),
                    None => options,
                })
            }
            Tls::Properties(file) => {
                let what = format!("read {}", file.display());
                let text = std::fs::read_to_string(file)
                    .map_err(|e| CtlError::Usage(format!("{what}: {e}")))?;
                let mut properties = java_properties(&text);
                // Naming the file asks for TLS, whether or not it says so itself.
                if !properties
                    .iter()
                    .any(|(k, _)| k == properties::CLIENT_SECURE)
                {
                    properties.push((properties::CLIENT_SECURE.into(), "true".into()));
                }
                let builder =
                    ClientBuilder::from_properties(properties).map_err(CtlError::zk(what))?;
                builder.tls_options().cloned().ok_or_else(|| {
                    CtlError::Usage(format!(
                        "{}: {} is false, so it asks for no TLS",
                        file.display(),
                        properties::CLIENT_SECURE
                    ))
                })
            }
        }
    }
}

/// The `key=value` pairs of a Java properties file: `=` or `:` (or the first space)
/// between key and value, `#` and `!` comment lines, a trailing `\` continuing the value
/// on the next line, and `\` escaping the character after it.
fn java_properties(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        pairs.push(split_property(&std::mem::take(&mut logical)));
    }
    if !logical.is_empty() {
        pairs.push(split_property(&logical));
    }
    pairs
}

/// One logical line of a properties file, unescaped and split into key and value.
fn split_property(line: &str) -> (String, String) {
    let (mut key, mut value) = (String::new(), String::new());
    // The character that ended the key, once it has ended.
    let mut separator = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let target = if separator.is_some() {
            &mut value
        } else {
            &mut key
        };
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    target.push(match escaped {
                        't' => '\t',
                        'n' => '\n',
                        'r' => '\r',
                        other => other,
                    });
                }
            }
            '=' | ':' | ' ' | '\t' if separator.is_none() => separator = Some(c),
            c => target.push(c),
        }
    }
    // `key = value` and `key : value`: a space-ended key may still be followed by one
    // `=` or `:`.
    let mut value = value.trim_start_matches([' ', '\t']);
    if matches!(separator, Some(' ' | '\t')) {
        value = value.strip_prefix(['=', ':']).unwrap_or(value);
    }
    (key, value.trim().to_owned())
}

impl Connection {
    /// Plain settings for `server`: no chroot, credentials or TLS, and the command
    /// line's default timeout (5 s). For programs that start a console themselves.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            chroot: None,
            auth: None,
            tls: None,
            sasl: None,
            timeout: Duration::from_secs(5),
            max_frame: None,
        }
    }

    /// The same settings, accepting replies up to `bytes` (a child list of a very large
    /// node is bigger than the default 1 MiB, as for `zkCli -Djute.maxbuffer=…`).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes);
        self
    }

    /// The settings from the parsed command line.
    pub fn from_cli(cli: &Cli) -> Self {
        Self {
            server: cli.server.clone(),
            chroot: cli.chroot.clone(),
            auth: cli.auth.clone(),
            // Any TLS option turns TLS on; clap makes sure a certificate comes with its key
            // and that a properties file comes alone.
            tls: match &cli.tls_config {
                Some(file) => Some(Tls::Properties(file.clone())),
                None => (cli.tls || cli.tls_ca.is_some() || cli.tls_cert.is_some()).then(|| {
                    Tls::Flags {
                        ca: cli.tls_ca.clone(),
                        client: cli.tls_cert.clone().zip(cli.tls_key.clone()),
                    }
                }),
            },
            sasl: match (&cli.sasl, &cli.jaas) {
                (Some(credentials), _) => Some(Sasl::Digest(credentials.clone())),
                (None, Some(file)) => Some(Sasl::Jaas(file.clone())),
                (None, None) => None,
            },
            timeout: Duration::from_secs(cli.timeout),
            max_frame: None,
        }
    }

    /// How long to wait for a session or a reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn builder(&self) -> Result<ClientBuilder> {
        // A dead server should fail the command within --timeout, not after the 30 s
        // default session timeout.
        let mut b = Client::builder()
            .establish_timeout(self.timeout)
            .request_timeout(self.timeout);
        if let Some(chroot) = &self.chroot {
            b = b.chroot(chroot.clone());
        }
        if let Some(bytes) = self.max_frame {
            b = b.max_frame(bytes);
        }
        if let Some(auth) = &self.auth {
            if !auth.contains(':') {
                return Err(CtlError::Usage(
                    "--auth must be USER:PASSWORD (digest credentials)".into(),
                ));
            }
            b = b.digest_auth(auth);
        }
        if let Some(tls) = &self.tls {
            b = b.tls(tls.options()?);
        }
        match &self.sasl {
            Some(Sasl::Digest(credentials)) => {
                let Some((user, password)) = credentials.split_once(':') else {
                    return Err(CtlError::Usage(
                        "--sasl must be USER:PASSWORD (DIGEST-MD5 credentials)".into(),
                    ));
                };
                b = b.sasl(SaslOptions::digest_md5(user, password));
            }
            Some(Sasl::Jaas(file)) => {
                let options = SaslOptions::from_jaas_file(file, None)
                    .map_err(CtlError::zk(format!("read {}", file.display())))?;
                b = b.sasl(options);
            }
            None => {}
        }
        Ok(b)
    }

    /// A session with the servers.
    pub async fn client(&self) -> Result<Client> {
        self.builder()?
            .connect(&self.server)
            .await
            .map_err(CtlError::zk(format!("connect to {}", self.server)))
    }

    /// A discovery service over a session with the servers (Curator's `/services`).
    pub async fn discovery(&self) -> Result<ServiceDiscovery> {
        self.discovery_with(CacheOptions::default()).await
    }

    /// Like [`Connection::discovery`], with caches that behave as `options` say.
    pub async fn discovery_with(&self, options: CacheOptions) -> Result<ServiceDiscovery> {
        ServiceDiscovery::builder()
            .client(self.builder()?)
            .cache_options(options)
            .connect(&self.server)
            .await
            .map_err(CtlError::discovery(format!("connect to {}", self.server)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_files_parse_as_java_reads_them() {
        let text = "# Kafka's zk-tls-config-file\n\
                    ! another comment\n\
                    \n\
                    zookeeper.client.secure=true\n\
                    zookeeper.ssl.keyStore.location = /etc/zk/client.p12\n\
                    zookeeper.ssl.keyStore.password:pa=ss:word\n\
                    zookeeper.ssl.trustStore.location /etc/zk/trust\\\n\
                    \x20   store.p12\n\
                    zookeeper.ssl.trustStore.password=C:\\\\keys\\\\pw\n\
                    weird\\=key=x\n\
                    empty=\n";
        assert_eq!(
            java_properties(text),
            [
                ("zookeeper.client.secure", "true"),
                ("zookeeper.ssl.keyStore.location", "/etc/zk/client.p12"),
                ("zookeeper.ssl.keyStore.password", "pa=ss:word"),
                (
                    "zookeeper.ssl.trustStore.location",
                    "/etc/zk/truststore.p12"
                ),
                ("zookeeper.ssl.trustStore.password", "C:\\keys\\pw"),
                ("weird=key", "x"),
                ("empty", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
