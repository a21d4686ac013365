//! Leaving a read-only server: while connected read-only, ask the ensemble's other servers
//! whether they serve writes, and move to the first that does, as the Java client's
//! `ClientCnxn.pingRwServer` does.
//!
//! Owns two things, kept apart so the session stays free of I/O:
//! - [`ProbeSchedule`], the sans-IO timing the [`Session`](crate::session::Session) keeps:
//!   the first probe 100 ms after a read-only connection starts, then intervals doubling up
//!   to 60 s (Java's `minPingRwTimeout` and `maxPingRwTimeout`), back to 100 ms once a
//!   read-write server is found;
//! - [`is_read_write`], the probe itself, which the driver runs beside the live connection:
//!   the `isro` four-letter word on a fresh TCP connection (TLS when the client uses TLS:
//!   a secure port speaks nothing else), answered `rw` or `ro`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tls::TlsConnector;

/// First probe delay, and the interval again after a read-write server was found.
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest interval between probes.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a probed server may take to answer once connected over plain TCP (Java's
/// socket timeout). Over TLS the wait is the connect timeout instead (see
/// [`is_read_write`]).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// When to probe for a read-write server next.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    interval: Duration,
    next: Option<Instant>,
}

impl Default for ProbeSchedule {
    fn default() -> Self {
        Self {
            interval: MIN_PROBE_INTERVAL,
            next: None,
        }
    }
}

impl ProbeSchedule {
    /// A read-only connection started at `now`: probe after the current interval. The
    /// interval keeps growing across read-only connections until a read-write server is
    /// found, so a client that hops between read-only servers does not probe harder.
    pub fn start(&mut self, now: Instant) {
        self.next = Some(now.checked_add(self.interval).unwrap_or(now));
    }

    /// The read-only connection ended: no probing until the next one.
    pub fn pause(&mut self) {
        self.next = None;
    }

    /// A read-write server accepted the session: back to the shortest interval.
    pub fn reset(&mut self) {
        self.interval = MIN_PROBE_INTERVAL;
        self.next = None;
    }

    /// When the next probe is due, if probing.
    pub fn next_due(&self) -> Option<Instant> {
        self.next
    }

    /// Whether a probe is due at `now`; if so the next one is scheduled after a doubled
    /// interval (at most [`MAX_PROBE_INTERVAL`]).
    pub fn poll_due(&mut self, now: Instant) -> bool {
        match self.next {
            Some(due) if due <= now => {
                self.interval = (self.interval * 2).min(MAX_PROBE_INTERVAL);
                self.next = Some(now.checked_add(self.interval).unwrap_or(now));
                true
            }
            _ => false,
        }
    }
}

/// Asks `host:port` with `isro` whether it serves writes: true only for an `rw` answer.
/// A server that is down, slow, read-only or answers anything else (or fails the TLS
/// handshake, with `tls`) counts as no.
///
/// Connecting (and the TLS handshake) may take `connect_timeout`. The answer may then take
/// [`ANSWER_TIMEOUT`] over plain TCP, as in Java; over TLS it may take `connect_timeout`
/// again, because in TLS 1.3 our side finishes the handshake before the server has: a
/// JVM's first handshakes (class loading, cold crypto) can take seconds on a busy machine,
/// and a probe that gives up on them counts the server as down and doubles the interval
/// before the next one, so a read-write server that is back would be found a minute late.
/// A probe in flight delays only the next probe, never the live connection.
pub(crate) async fn is_read_write(
    host: &str,
    port: u16,
    connect_timeout: Duration,
    tls: Option<&TlsConnector>,
) -> bool {
    let exchange = async {
        let connect = async {
            let tcp = TcpStream::connect((host, port)).await.ok()?;
            match tls {
                None => Some(Box::new(tcp) as Box<dyn Stream>),
                Some(tls) => {
                    Some(Box::new(tls.handshake(host, port, tcp).await.ok()?) as Box<dyn Stream>)
                }
            }
        };
        let mut stream = tokio::time::timeout(connect_timeout, connect)
            .await
            .ok()??;
        stream.write_all(b"isro").await.ok()?;
        stream.flush().await.ok()?;
        // The server answers two bytes and closes; anything longer is not an answer.
        let mut answer = Vec::with_capacity(8);
        let answer_timeout = match tls {
            None => ANSWER_TIMEOUT,
            Some(_) => connect_timeout.max(ANSWER_TIMEOUT),
        };
        let read = tokio::time::timeout(
            answer_timeout,
            (&mut stream).take(16).read_to_end(&mut answer),
        )
        .await
        .ok()?;
        match read {
            Ok(_) => Some(answer),
            // A TLS server may close without close_notify after answering; the answer
            // it sent still counts.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {
                Some(answer)
            }
            Err(_) => None,
        }
    };
    let answer = exchange.await;
    let rw = answer.as_deref().is_some_and(|a| a.trim_ascii() == b"rw");
    tracing::debug!(
        server = %format_args!("{host}:{port}"),
        answer = ?answer.as_deref().map(String::from_utf8_lossy),
        rw,
        "probed for a read-write server"
    );
    rw
}

/// A probe's connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_start_after_100ms_and_back_off_to_a_minute() {
        let t0 = Instant::now();
        let mut s = ProbeSchedule::default();
        assert_eq!(s.next_due(), None);
        s.start(t0);
        assert!(!s.poll_due(t0 + Duration::from_millis(99)));
        let mut now = t0 + MIN_PROBE_INTERVAL;
        let mut gaps = Vec::new();
        for _ in 0..12 {
            assert!(s.poll_due(now));
            let next = s.next_due().unwrap();
            gaps.push((next - now).as_millis());
            now = next;
        }
        assert_eq!(
            gaps,
            [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]
        );
    }

    #[test]
    fn the_interval_survives_a_reconnect_to_another_read_only_server_but_not_a_read_write_one() {
        let t0 = Instant::now();
        let mut s = ProbeSchedule::default();
        s.start(t0);
        assert!(s.poll_due(t0 + MIN_PROBE_INTERVAL));
        s.pause();
        assert_eq!(s.next_due(), None);
        let t1 = t0 + Duration::from_secs(5);
        s.start(t1);
        assert_eq!(s.next_due(), Some(t1 + 2 * MIN_PROBE_INTERVAL));
        s.reset();
        s.start(t1);
        assert_eq!(s.next_due(), Some(t1 + MIN_PROBE_INTERVAL));
    }

    #[tokio::test]
    async fn only_an_rw_answer_counts() {
        async fn server_answering(answer: &'static [u8]) -> u16 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut word = [0u8; 4];
                s.read_exact(&mut word).await.unwrap();
                assert_eq!(&word, b"isro");
                s.write_all(answer).await.unwrap();
            });
            port
        }
        let t = Duration::from_secs(1);
        let rw = server_answering(b"rw").await;
        assert!(is_read_write("127.0.0.1", rw, t, None).await);
        let ro = server_answering(b"ro").await;
        assert!(!is_read_write("127.0.0.1", ro, t, None).await);
        let junk = server_answering(b"rwxxxxxxxxxxxxxxxxxxxxxx").await;
        assert!(!is_read_write("127.0.0.1", junk, t, None).await);
        // Nothing listens on a port just freed.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(!is_read_write("127.0.0.1", closed, t, None).await);
    }

    /// A TLS server that answers `isro` with `rw` after `delay`, or never with `None`.
    async fn tls_server_answering_after(
        dir: &std::path::Path,
        delay: Option<Duration>,
    ) -> (u16, TlsConnector) {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let ca = zk_testkit::TestCa::new(dir, "ca").unwrap();
        let issued = ca.issue("server", &["127.0.0.1"]).unwrap();
        let chain = CertificateDer::pem_file_iter(&issued.cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&issued.key).unwrap();
        #[allow(deprecated)] // ring's provider: see `TlsOptions::connector`.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut s = acceptor.accept(tcp).await.unwrap();
            let mut word = [0u8; 4];
            s.read_exact(&mut word).await.unwrap();
            assert_eq!(&word, b"isro");
            match delay {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    s.write_all(b"rw").await.unwrap();
                    s.shutdown().await.unwrap();
                }
                None => std::future::pending().await,
            }
        });
        let connector = crate::TlsOptions::with_ca_pem_file(ca.cert_path())
            .connector()
            .unwrap();
        (port, connector)
    }

    #[tokio::test]
    async fn over_tls_a_server_still_finishing_its_handshake_may_answer_after_a_second() {
        // Java's one second is for a plain socket; a cold JVM may still be completing the
        // TLS handshake then, and its answer must not be mistaken for a dead server.
        let dir = tempfile::tempdir().unwrap();
        let (port, tls) =
            tls_server_answering_after(dir.path(), Some(Duration::from_millis(1500))).await;
        let connect_timeout = Duration::from_secs(5);
        assert!(is_read_write("127.0.0.1", port, connect_timeout, Some(&tls)).await);
    }

    #[tokio::test]
    async fn over_tls_a_server_that_never_answers_is_given_up_on() {
        let dir = tempfile::tempdir().unwrap();
        let (port, tls) = tls_server_answering_after(dir.path(), None).await;
        let connect_timeout = Duration::from_secs(2);
        assert!(!is_read_write("127.0.0.1", port, connect_timeout, Some(&tls)).await);
    }
}
