//! Turning the global options (`--server`, `--chroot`, `--auth`, `--tls*`, `--sasl`,
//! `--jaas`, `--timeout`) into a ZooKeeper session or a discovery service.

use std::time::Duration;

use std::path::PathBuf;

use zk_client::{Client, ClientBuilder, SaslOptions, TlsOptions};
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
struct Tls {
    /// The CA bundle; the system's roots without one.
    ca: Option<PathBuf>,
    /// A client certificate and its key, for mutual TLS.
    client: Option<(PathBuf, PathBuf)>,
}

impl Tls {
    fn options(&self) -> TlsOptions {
        let options = match &self.ca {
            Some(ca) => TlsOptions::with_ca_pem_file(ca.clone()),
            None => TlsOptions::with_system_roots(),
        };
        match &self.client {
            Some((cert, key)) => options.client_cert_pem_files(cert.clone(), key.clone()),
            None => options,
        }
    }
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
            // Any TLS option turns TLS on; clap makes sure a certificate comes with its key.
            tls: (cli.tls || cli.tls_ca.is_some() || cli.tls_cert.is_some()).then(|| Tls {
                ca: cli.tls_ca.clone(),
                client: cli.tls_cert.clone().zip(cli.tls_key.clone()),
            }),
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
            b = b.tls(tls.options());
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
