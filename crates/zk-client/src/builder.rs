//! Configuration of a client and the connect that starts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use zk_proto::frame::DEFAULT_MAX_FRAME;

use crate::chroot::Chroot;
use crate::client::Client;
use crate::driver::{Driver, Shared};
use crate::error::{Error, Result};
use crate::hosts::{ConnectString, HostPicker};
use crate::metrics::Counters;
use crate::sasl::SaslOptions;
use crate::session::{Session, SessionConfig};
use crate::state::SessionState;
use crate::tls::TlsOptions;
use crate::watch_queue;

/// Builds a [`Client`]. Obtain one with [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    establish_timeout: Option<Duration>,
    read_only: bool,
    auths: Vec<(String, Vec<u8>)>,
    chroot: Option<String>,
    session: Option<(i64, Vec<u8>)>,
    max_frame: usize,
    min_backoff: Duration,
    max_backoff: Duration,
    watch_capacity: usize,
    tls: Option<TlsOptions>,
    sasl: Option<SaslOptions>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(30),
            connect_timeout: None,
            request_timeout: None,
            establish_timeout: None,
            read_only: false,
            auths: Vec::new(),
            chroot: None,
            session: None,
            max_frame: DEFAULT_MAX_FRAME,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            watch_capacity: watch_queue::DEFAULT_CAPACITY,
            tls: None,
            sasl: None,
        }
    }
}

impl ClientBuilder {
    /// The session timeout to ask for (default 30 s); the server clamps it to its
    /// `[minSessionTimeout, maxSessionTimeout]`.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long one TCP connect plus handshake may take (default: the session timeout
    /// divided by the number of hosts, as the Java client, at most 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Fails a request with [`Error::RequestTimeout`] if it has no reply in this time
    /// (default: none). The request may still be applied by the server.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long [`ClientBuilder::connect`] waits for the first session before failing
    /// (default: the session timeout).
    pub fn establish_timeout(mut self, timeout: Duration) -> Self {
        self.establish_timeout = Some(timeout);
        self
    }

    /// Accept read-only servers (default false): a server cut off from its quorum that
    /// runs with `readonlymode.enabled` then serves this client's reads
    /// ([`SessionState::ConnectedReadOnly`]; writes fail with
    /// [`Error::NotReadOnly`]). While connected read-only the client asks the other servers
    /// in the background (`isro`, every 100 ms at first, backing off to once a minute) and
    /// moves to the first that serves writes, as the Java client does.
    pub fn read_only(mut self, allowed: bool) -> Self {
        self.read_only = allowed;
        self
    }

    /// Credentials sent right after every handshake, before any request.
    pub fn auth(mut self, scheme: impl Into<String>, auth: impl Into<Vec<u8>>) -> Self {
        self.auths.push((scheme.into(), auth.into()));
        self
    }

    /// Digest credentials `user:password`.
    pub fn digest_auth(self, user_password: &str) -> Self {
        self.auth("digest", user_password.as_bytes())
    }

    /// A chroot (overrides one in the connect string).
    pub fn chroot(mut self, chroot: impl Into<String>) -> Self {
        self.chroot = Some(chroot.into());
        self
    }

    /// Resume an existing session instead of creating one.
    pub fn session(mut self, session_id: i64, password: impl Into<Vec<u8>>) -> Self {
        self.session = Some((session_id, password.into()));
        self
    }

    /// Largest frame sent or accepted (default `0xfffff`, as `jute.maxbuffer`).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Back-off between rounds of failed connects: starts at `min`, doubles per round up
    /// to `max`, with ±50 % jitter (defaults 50 ms and 5 s).
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// How many events each [`PersistentWatcher`](crate::PersistentWatcher) queues for a
    /// reader that has not caught up (default 4096, at least 1). Beyond it events are
    /// dropped and the reader is told with a [`Lagged`](crate::Lagged) item, so a reader
    /// that stops reading costs bounded memory however busy the watched subtree is.
    pub fn persistent_watch_capacity(mut self, events: usize) -> Self {
        self.watch_capacity = events.max(1);
        self
    }

    /// Connect with TLS (to servers' `secureClientPort`): every connection, on reconnect
    /// to any host of the connect string and for read-only mode's probes alike. A failed
    /// handshake counts as a failed connect (the next host is tried, then the reconnect
    /// back-off applies), and [`ClientBuilder::connect`] reports it as [`Error::Tls`].
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticate with SASL (DIGEST-MD5) on every connection, before anything else is
    /// sent, as the Java client does with a JAAS `Client` section: the server must have a
    /// `SASLAuthenticationProvider` and a JAAS `Server` section listing the user. The
    /// session then carries the id `sasl:<user>` for ACLs. Refused credentials end the
    /// session: [`ClientBuilder::connect`] fails with [`Error::AuthFailed`] after one
    /// attempt and the state is [`SessionState::AuthFailed`]; the client does not retry.
    pub fn sasl(mut self, sasl: SaslOptions) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// The SASL settings, if any.
    pub fn sasl_options(&self) -> Option<&SaslOptions> {
        self.sasl.as_ref()
    }

    /// The TLS settings, if any.
    pub fn tls_options(&self) -> Option<&TlsOptions> {
        self.tls.as_ref()
    }

    /// Connects to `connect_string` (`"h1:2181,h2:2181/chroot"`) and waits until a session
    /// is established.
    ///
    /// # Errors
    /// [`Error::SessionExpired`] when resuming a session that is gone,
    /// [`Error::AuthFailed`] when the credentials are refused, [`Error::Connect`] when no
    /// server answered within the establish timeout ([`Error::Tls`] instead when a TLS
    /// connection failed meanwhile — the latest such failure, even if a later attempt
    /// failed otherwise: an untrusted certificate, a host name mismatch, a refused client
    /// certificate), [`Error::TlsConfig`] when the TLS files cannot be loaded, and
    /// argument errors for a bad connect string or chroot.
    pub async fn connect(self, connect_string: &str) -> Result<Client> {
        let parsed = ConnectString::parse(connect_string)?;
        let tls = self.tls.as_ref().map(TlsOptions::connector).transpose()?;
        let chroot = Chroot::new(
            self.chroot
                .as_deref()
                .or(parsed.chroot.as_deref())
                .unwrap_or(""),
        )?;
        let hosts = parsed.hosts.len() as u32;
        let connect_timeout = self.connect_timeout.unwrap_or_else(|| {
            (self.session_timeout / hosts.max(1))
                .min(Duration::from_secs(10))
                .max(Duration::from_millis(100))
        });
        let config = SessionConfig {
            session_timeout: self.session_timeout,
            connect_timeout,
            read_only: self.read_only,
            max_frame: self.max_frame,
            chroot: chroot.clone(),
            session: self.session.clone().unwrap_or((0, Vec::new())),
            sasl: self.sasl.clone(),
        };
        let now = tokio::time::Instant::now().into_std();
        let mut session = Session::new(config, now);
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            identity: Mutex::new((0, Vec::new(), Duration::ZERO)),
            state_subscribers: Mutex::new(Vec::new()),
            disconnected_since: Mutex::new(None),
            server: Mutex::new(None),
            tls_failure: Mutex::new(None),
        });
        let mut auth_replies = Vec::new();
        for (scheme, auth) in self.auths {
            let (tx, rx) = tokio::sync::oneshot::channel();
            session.add_auth(now, scheme, auth, crate::driver::Responder::Reply(tx));
            auth_replies.push(rx);
        }
        let picker = HostPicker::new(parsed.hosts, self.min_backoff, self.max_backoff);
        let driver = Driver::new(
            session,
            commands_rx,
            picker,
            connect_timeout,
            state_tx,
            shared.clone(),
            tls,
        );
        tokio::spawn(driver.run());
        let client = Client::new(
            commands_tx,
            chroot,
            state_rx,
            shared,
            self.request_timeout,
            self.watch_capacity,
        );

        let establish = self.establish_timeout.unwrap_or(self.session_timeout);
        let mut state = client.state_watcher();
        let wait = async {
            loop {
                let s = *state.borrow_and_update();
                match s {
                    SessionState::Connected | SessionState::ConnectedReadOnly => return Ok(()),
                    SessionState::Expired => return Err(Error::SessionExpired),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    SessionState::Closed => return Err(Error::Closed),
                    _ => {}
                }
                if state.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        match tokio::time::timeout(establish, wait).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let tls_failure = client.tls_failure();
                return Err(tls_failure.unwrap_or_else(|| {
                    Error::Connect(format!(
                        "no session with {connect_string} within {establish:?}"
                    ))
                }));
            }
        }
        // Credentials given here are part of connecting: a refusal is a connect error.
        for rx in auth_replies {
            match rx.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::Closed),
            }
        }
        Ok(client)
    }
}
