//! An ensemble whose members speak TLS to each other (`sslQuorum`): it elects, replicates
//! and fails over as over TCP; a peer without a certificate from the ensemble's CA — a
//! plaintext stranger, or a member started with another CA's certificate — is never heard
//! on the quorum or election ports and cannot join, while the rest serve on; nor is a
//! peer whose certificate, from the right CA, names another host.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{Client, CreateOptions};
use zk_server::{Ensemble, Mode, QuorumTls, TlsSettings};
use zk_testkit::{Issued, TestCa};

const WAIT: Duration = Duration::from_secs(30);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "zk_server=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn quorum_tls(ca: &TestCa, member: &Issued) -> QuorumTls {
    QuorumTls {
        settings: TlsSettings::new(&member.key_store).trust_store(ca.cert_path()),
        verify_host_names: true,
    }
}

async fn client(connect: &str) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(connect)
        .await
        .expect("connect")
}

/// Whether the server closes a connection that sent `bytes`, within the test's patience.
async fn closed_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let Ok(s) = TcpStream::connect(addr).await else {
        return false;
    };
    closed_by_peer(s, bytes, WAIT).await
}

/// What a member's election connection opens with, claiming to be member `sid`.
fn election_hello(sid: u64) -> Vec<u8> {
    let mut hello = b"ZKEL".to_vec();
    hello.extend_from_slice(&1u16.to_be_bytes());
    hello.extend_from_slice(&sid.to_be_bytes());
    hello
}

/// Whether the peer closes `s` after it sends `bytes`, within `patience`.
async fn closed_by_peer(
    mut s: impl AsyncRead + AsyncWrite + Unpin,
    bytes: &[u8],
    patience: Duration,
) -> bool {
    let _ = s.write_all(bytes).await;
    let _ = s.flush().await;
    let mut buf = [0u8; 1024];
    let to_end = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(patience, to_end).await.is_ok()
}

/// Writes until it succeeds (the ensemble may be electing).
async fn write_until_ok(c: &Client, path: &str) {
    let deadline = Instant::now() + WAIT;
    while c
        .create(path, b"", &CreateOptions::persistent())
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "no write of {path} succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_speak_only_tls_and_strangers_are_never_heard() {
    init_tracing();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "quorum").expect("CA");
    let other = TestCa::new(dir.path(), "other").expect("another CA");
    let member = ca.issue("member", &["127.0.0.1"]).expect("certificate");
    let stranger = other
        .issue("stranger", &["127.0.0.1"])
        .expect("certificate");
    let (good, bad) = (quorum_tls(&ca, &member), quorum_tls(&other, &stranger));
    // Member 2 starts with the stranger's certificate while this is set.
    let untrusted = Arc::new(AtomicBool::new(false));
    let flag = untrusted.clone();
    let mut ensemble = Ensemble::builder()
        .members(3)
        .quorum_tls(move |i| {
            Some(if i == 2 && flag.load(Ordering::SeqCst) {
                bad.clone()
            } else {
                good.clone()
            })
        })
        .start()
        .await
        .expect("a TLS ensemble elects a leader");

    // Replication over TLS: written through one member, read through another.
    let a = client(&ensemble.client_addr(0).to_string()).await;
    let b = client(&ensemble.client_addr(1).to_string()).await;
    write_until_ok(&a, "/over-tls").await;
    b.sync("/over-tls").await.expect("sync");
    assert!(b.exists("/over-tls").await.expect("exists").is_some());

    // Plaintext strangers on every peer port, even ones saying a member's hello, are
    // closed without being heard.
    let hello = election_hello(1);
    for i in 0..3 {
        let peer = ensemble.peer(i).expect("member").clone();
        for port in [peer.quorum_port, peer.election_port] {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            assert!(
                closed_after(addr, &hello).await,
                "member {i} kept a plaintext connection on port {port}"
            );
        }
    }

    // Fail-over over TLS: the leader dies, the others elect and go on.
    let leader = ensemble.leader().await.expect("leader");
    ensemble.kill(leader).await;
    let survivor = (leader + 1) % 3;
    let c = client(&ensemble.client_addr(survivor).to_string()).await;
    write_until_ok(&c, "/after-failover").await;
    ensemble.restart(leader).await.expect("restart");
    ensemble
        .wait_serving(WAIT)
        .await
        .expect("the old leader rejoins");

    // A member restarted with another CA's certificate cannot join: for longer than
    // initLimit (10 ticks of 200 ms) it is never a follower, while the two others serve.
    untrusted.store(true, Ordering::SeqCst);
    ensemble
        .restart(2)
        .await
        .expect("restart with an untrusted certificate");
    let writer = client(&ensemble.client_addr(0).to_string()).await;
    let until = Instant::now() + Duration::from_secs(4);
    let mut n = 0;
    while Instant::now() < until {
        assert!(
            !matches!(ensemble.mode(2).await, Some(Mode::Follower | Mode::Leader)),
            "a member with an untrusted certificate joined the ensemble"
        );
        write_until_ok(&writer, &format!("/without-2-{n}")).await;
        n += 1;
    }
    // With the ensemble's certificate again, it joins and has every write.
    untrusted.store(false, Ordering::SeqCst);
    ensemble
        .restart(2)
        .await
        .expect("restart with the good certificate");
    ensemble.wait_serving(WAIT).await.expect("member 2 joins");
    let third = client(&ensemble.client_addr(2).to_string()).await;
    third.sync("/").await.expect("sync");
    for i in 0..n {
        let path = format!("/without-2-{i}");
        assert!(
            third.exists(&path).await.expect("exists").is_some(),
            "{path}"
        );
    }
    ensemble.shutdown().await;
}

/// A TLS client presenting `identity` (trusting `ca`) that says member `sid`'s election
/// hello on `addr`; whether the member closes it within `patience`.
async fn closed_after_tls_hello(
    addr: SocketAddr,
    ca: &TestCa,
    identity: &Issued,
    sid: u64,
    patience: Duration,
) -> bool {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.cert_path()).expect("CA file") {
        roots
            .add(cert.expect("CA certificate"))
            .expect("trust the CA");
    }
    let chain = CertificateDer::pem_file_iter(&identity.cert)
        .expect("certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&identity.key).expect("key");
    #[allow(deprecated)] // ring's provider: see zk-server's `tls` module.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    // TLS 1.3: our side of the handshake completes before the member has checked our
    // certificate, so its verdict shows as the connection closing afterwards.
    let s = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake (a trusted CA's certificate)");
    closed_by_peer(s, &election_hello(sid), patience).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_the_ensembles_ca_that_names_another_host_is_never_heard() {
    // Apache checks the certificate of every member that connects against the address it
    // connects from (QuorumX509Util). Without that, any certificate the CA ever issued (an
    // application's client certificate, say) could vote or follow and be sent the data.
    init_tracing();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "quorum").expect("CA");
    let member = ca.issue("member", &["127.0.0.1"]).expect("certificate");
    let application = ca
        .issue("application", &["app.example.com"])
        .expect("certificate");
    let good = quorum_tls(&ca, &member);
    let ensemble = Ensemble::builder()
        .members(3)
        .quorum_tls(move |_| Some(good.clone()))
        .start()
        .await
        .expect("a TLS ensemble elects a leader");
    for i in 0..3 {
        let peer = ensemble.peer(i).expect("member").clone();
        let election = SocketAddr::from(([127, 0, 0, 1], peer.election_port));
        // Member i is sid i + 1; claim to be another member (a hello from one's own sid
        // is closed whatever the certificate).
        let other = (i as u64 + 1) % 3 + 1;
        assert!(
            closed_after_tls_hello(election, &ca, &application, other, WAIT).await,
            "member {i} heard a peer whose certificate names another host"
        );
        // The same hello with a member's certificate is heard (kept open).
        assert!(
            !closed_after_tls_hello(election, &ca, &member, other, Duration::from_secs(2)).await,
            "member {i} closed a peer whose certificate names its address"
        );
    }
    // The ensemble is unaffected.
    let c = client(&ensemble.client_addr(0).to_string()).await;
    write_until_ok(&c, "/still-serving").await;
    ensemble.shutdown().await;
}
