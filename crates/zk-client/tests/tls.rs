//! TLS against real Apache ZooKeeper 3.8 serving its `secureClientPort` (Netty, PEM key
//! and trust stores), and against zk-server started from the very same `zoo.cfg`:
//! verification of the server, host names, mutual TLS, and reconnects, with certificates
//! made by a throwaway CA at test time. Each scenario runs against both servers.

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use zk_client::{Client, CreateOptions, Error, EventType, SessionState, TlsFailure, TlsOptions};
use zk_testkit::{ClientAuth, Issued, JavaStore, Mode, ServerTls, Servers, TestCa};

on_both_servers!(
    crud_and_watches_over_tls_survive_a_dropped_connection_and_a_host_change,
    a_server_is_refused_with_a_typed_error_unless_trusted_and_named_as_connected_to,
    mutual_tls_admits_a_client_certificate_and_refuses_its_absence,
    a_client_certificate_refused_after_a_tls13_handshake_is_reported_the_same,
    a_server_with_pkcs12_stores_takes_a_client_with_pkcs12_stores,
);

/// A server and the certificates of its test.
struct Secure {
    zk: ApacheZk,
    ca: TestCa,
    /// A client certificate from the server's CA.
    client: Issued,
    _dir: tempfile::TempDir,
}

impl Secure {
    /// The server's TLS address.
    fn addr(&self) -> SocketAddr {
        let port = self.zk.secure_port(0).expect("a secure port");
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// TLS options trusting the server's CA, without a client certificate.
    fn trusting(&self) -> TlsOptions {
        TlsOptions::with_ca_pem_file(self.ca.cert_path())
    }
}

/// A standalone server whose certificate is issued for the IP address 127.0.0.1 only (not
/// `localhost`), asking clients for certificates as `client_auth` says.
async fn secure_server(servers: Servers, client_auth: ClientAuth) -> Secure {
    secure_server_with(servers, client_auth, &[]).await
}

/// A test CA in a temporary directory, a server certificate for the IP address 127.0.0.1
/// only (not `localhost`) and a client certificate.
fn certificates() -> (tempfile::TempDir, TestCa, Issued, Issued) {
    init_tracing();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "server-ca").expect("test CA");
    let server = ca
        .issue("server", &["127.0.0.1"])
        .expect("server certificate");
    let client = ca
        .issue("client", &["client.test"])
        .expect("client certificate");
    (dir, ca, server, client)
}

/// [`secure_server`] with extra `zoo.cfg` lines.
async fn secure_server_with(servers: Servers, client_auth: ClientAuth, config: &[&str]) -> Secure {
    let (dir, ca, server, client) = certificates();
    let mut options = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .servers(servers)
        .expect("server binary");
    for line in config {
        options = options.config(*line);
    }
    let zk = options
        .tls(ServerTls {
            key_store: server.key_store.clone(),
            trust_store: ca.cert_path(),
            client_auth,
        })
        .start()
        .await
        .expect("start a server with TLS");
    Secure {
        zk,
        ca,
        client,
        _dir: dir,
    }
}

fn builder(tls: TlsOptions) -> zk_client::ClientBuilder {
    Client::builder()
        .session_timeout(Duration::from_secs(6))
        // Failing connects end within the test's patience, with the usual back-off.
        .establish_timeout(Duration::from_secs(4))
        .tls(tls)
}

/// The error of a connect that must fail.
async fn refused(tls: TlsOptions, connect: &str) -> Error {
    match within("a refused connect", builder(tls).connect(connect)).await {
        Ok(_) => panic!("connected to {connect}, expected a TLS failure"),
        Err(e) => e,
    }
}

fn tls_kind(error: &Error) -> Option<TlsFailure> {
    match error {
        Error::Tls { kind, .. } => Some(*kind),
        _ => None,
    }
}

async fn crud_and_watches_over_tls_survive_a_dropped_connection_and_a_host_change(
    servers: Servers,
) {
    let s = secure_server(servers, ClientAuth::None).await;
    // Two hosts in the connect string, both leading to the server's TLS port.
    let first = FaultProxy::start(s.addr()).await.expect("proxy");
    let second = FaultProxy::start(s.addr()).await.expect("proxy");
    let connect = format!("{},{}", first.addr(), second.addr());
    let client = within("TLS connect", builder(s.trusting()).connect(&connect))
        .await
        .expect("connect over TLS");

    client
        .create("/tls", b"one", &CreateOptions::persistent())
        .await
        .expect("create");
    let (data, stat, watch) = client.get_and_watch_data("/tls").await.expect("get");
    assert_eq!(data.as_ref(), b"one");

    // Every connection is dropped and the host in use refuses new ones: the client
    // reconnects, over TLS, to the other and resumes its session and watch.
    let session = client.session_id();
    let used = if first.connections_accepted() > 0 {
        &first
    } else {
        &second
    };
    used.refuse(true);
    used.drop_connections();
    wait_state(&client, SessionState::Disconnected).await;
    wait_state(&client, SessionState::Connected).await;
    assert_eq!(client.session_id(), session);

    client
        .set_data("/tls", b"two", Some(stat.version))
        .await
        .expect("set after reconnect");
    let event = within("the watch restored on the new connection", watch).await;
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    let (data, _) = client.get_data("/tls").await.expect("get");
    assert_eq!(data.as_ref(), b"two");

    // Pipelined replies larger than what the driver reads per wake-up (4 MiB): the rest
    // waits decrypted or staged in the TLS layer, where socket readiness cannot see it.
    let big = vec![7u8; 900 * 1024];
    client
        .set_data("/tls", &big, None)
        .await
        .expect("set a large value");
    let reads = (0..8).map(|_| client.get_data("/tls"));
    for (data, _) in within("pipelined large reads", futures::future::join_all(reads))
        .await
        .into_iter()
        .map(|r| r.expect("large read"))
    {
        assert_eq!(data.len(), big.len());
    }
    client.delete("/tls", None).await.expect("delete");
    client.close().await.expect("close");
}

async fn a_server_is_refused_with_a_typed_error_unless_trusted_and_named_as_connected_to(
    servers: Servers,
) {
    let s = secure_server(servers, ClientAuth::None).await;
    let port = s.addr().port();

    // A certificate from another CA is not trusted.
    let other_dir = tempfile::tempdir().expect("temporary directory");
    let other = TestCa::new(other_dir.path(), "other-ca").expect("other CA");
    let e = refused(
        TlsOptions::with_ca_pem_file(other.cert_path()),
        &format!("127.0.0.1:{port}"),
    )
    .await;
    assert_eq!(tls_kind(&e), Some(TlsFailure::UntrustedCertificate), "{e}");

    // The certificate names 127.0.0.1, not localhost.
    let localhost = format!("localhost:{port}");
    let e = refused(s.trusting(), &localhost).await;
    assert_eq!(tls_kind(&e), Some(TlsFailure::HostnameMismatch), "{e}");

    // ... which the explicit opt-out accepts, and a server name override fixes properly.
    for tls in [
        s.trusting().danger_accept_invalid_hostnames(true),
        s.trusting().server_name("127.0.0.1"),
    ] {
        let client = within("TLS connect", builder(tls).connect(&localhost))
            .await
            .expect("connect");
        assert!(client.exists("/").await.expect("exists").is_some());
        client.close().await.expect("close");
    }

    // A missing CA file is a configuration error, before any connection.
    let e = refused(
        TlsOptions::with_ca_pem_file(other_dir.path().join("missing.pem")),
        &localhost,
    )
    .await;
    assert!(matches!(e, Error::TlsConfig(_)), "{e}");
}

async fn mutual_tls_admits_a_client_certificate_and_refuses_its_absence(servers: Servers) {
    let s = secure_server(servers, ClientAuth::Need).await;
    let connect = s.addr().to_string();

    let with_cert = s
        .trusting()
        .client_cert_pem_files(&s.client.cert, &s.client.key);
    let client = within("mTLS connect", builder(with_cert).connect(&connect))
        .await
        .expect("connect with a client certificate");
    client
        .create("/mtls", b"", &CreateOptions::ephemeral())
        .await
        .expect("create");
    client.close().await.expect("close");

    // The same from the Java client's properties, with Apache's PEM key store layout
    // (key and certificate in one file).
    let key_store = s.client.key_store.display().to_string();
    let trust_store = s.ca.cert_path().display().to_string();
    let from_properties = zk_client::ClientBuilder::from_properties([
        ("zookeeper.client.secure", "true"),
        ("zookeeper.ssl.keyStore.location", key_store.as_str()),
        ("zookeeper.ssl.keyStore.type", "PEM"),
        ("zookeeper.ssl.trustStore.location", trust_store.as_str()),
        ("zookeeper.ssl.trustStore.type", "PEM"),
    ])
    .expect("properties");
    let client = within("mTLS connect", from_properties.connect(&connect))
        .await
        .expect("connect from properties");
    assert!(client.exists("/").await.expect("exists").is_some());
    client.close().await.expect("close");

    let e = refused(s.trusting(), &connect).await;
    assert_eq!(tls_kind(&e), Some(TlsFailure::Refused), "{e}");
}

async fn a_client_certificate_refused_after_a_tls13_handshake_is_reported_the_same(
    servers: Servers,
) {
    // In TLS 1.3 the client's handshake is over before the server has judged its
    // certificate: the refusal arrives as an alert on the first read of the connection.
    let s = secure_server_with(
        servers,
        ClientAuth::Need,
        &[
            "ssl.protocol=TLSv1.3",
            "ssl.enabledProtocols=TLSv1.3",
            "ssl.ciphersuites=TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
        ],
    )
    .await;
    // Through a proxy, to count the attempts: a refused client backs off, it does not
    // hammer the server (a hot loop would make thousands within the establish timeout).
    let proxy = FaultProxy::start(s.addr()).await.expect("proxy");
    let e = refused(s.trusting(), &proxy.addr().to_string()).await;
    assert_eq!(tls_kind(&e), Some(TlsFailure::Refused), "{e}");
    let attempts = proxy.connections_accepted();
    assert!((2..30).contains(&attempts), "{attempts} attempts");

    let with_cert = s
        .trusting()
        .client_cert_pem_files(&s.client.cert, &s.client.key);
    let client = within(
        "mTLS connect",
        builder(with_cert).connect(&proxy.addr().to_string()),
    )
    .await
    .expect("connect with a client certificate over TLS 1.3");
    assert!(client.exists("/").await.expect("exists").is_some());
    client.close().await.expect("close");
}

#[tokio::test]
async fn a_read_only_client_over_tls_probes_for_a_read_write_server_and_moves_to_it() {
    init_tracing_at("zk_client=debug,zk_testkit=debug");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "ca").expect("test CA");
    let server = ca
        .issue("server", &["127.0.0.1"])
        .expect("server certificate");
    let tls = ServerTls {
        key_store: server.key_store.clone(),
        trust_store: ca.cert_path(),
        client_auth: ClientAuth::None,
    };
    // A member that stays read-only: its ensemble never regains a quorum.
    let stranded = ApacheZk::options(3)
        .java_opts("-Dreadonlymode.enabled=true")
        .config("localSessionsEnabled=true")
        .config("localSessionsUpgradingEnabled=true")
        .tls(tls.clone())
        .start()
        .await
        .expect("start the ensemble");
    stranded.kill(1).await.expect("kill");
    stranded.kill(2).await.expect("kill");
    wait_until_async("member 0 read-only", || async {
        stranded.mode(0).await.ok() == Some(Mode::ReadOnly)
    })
    .await;
    // A read-write server the client cannot reach at first, ahead of what it will see.
    let seen = last_zxid(&stranded, 0).await;
    let (writable, leader) = ensemble_ahead_of(ApacheZk::options(3).tls(tls), seen).await;
    let writable_tls =
        SocketAddr::from(([127, 0, 0, 1], writable.secure_port(leader).expect("port")));
    let gate = FaultProxy::start(writable_tls).await.expect("proxy");
    gate.refuse(true);

    let read_only_tls = format!("127.0.0.1:{}", stranded.secure_port(0).expect("port"));
    let connect = format!("{read_only_tls},{}", gate.addr());
    let c = within(
        "read-only TLS connect",
        Client::builder()
            .read_only(true)
            .session_timeout(Duration::from_secs(20))
            .tls(TlsOptions::with_ca_pem_file(ca.cert_path()))
            .connect(&connect),
    )
    .await
    .expect("connect read-only over TLS");
    assert_eq!(c.state(), SessionState::ConnectedReadOnly);
    assert!(c.exists("/zookeeper").await.expect("read").is_some());
    assert_eq!(
        c.create("/x", b"", &CreateOptions::persistent()).await,
        Err(Error::NotReadOnly)
    );

    // The read-write server becomes reachable: the probe (isro, over TLS) finds it.
    gate.refuse(false);
    wait_state_within(&c, SessionState::Connected, PROBE_WAIT).await;
    c.create("/moved", b"", &CreateOptions::persistent())
        .await
        .expect("create on the read-write server");
}

#[tokio::test]
async fn jks_stores_as_apache_documents_them_work_on_both_servers_and_in_our_client() {
    // The stores most Apache deployments have: a JKS key store converted by keytool from
    // an openssl PKCS#12 export, and a JKS trust store of the CA, in one zoo.cfg.
    let (_dir, ca, server, client) = certificates();
    let key_store = ca
        .java_key_store(&server, JavaStore::Jks, "changeit")
        .expect("openssl and keytool make a JKS key store");
    let trust_store = ca.java_trust_store("changeit").expect("a JKS trust store");
    let client_store = ca
        .java_key_store(&client, JavaStore::Jks, "client-pw")
        .expect("a client JKS key store");
    let tls = ServerTls {
        key_store,
        trust_store: trust_store.clone(),
        client_auth: ClientAuth::Need,
    };
    for servers in [Servers::Apache, Servers::Bundled] {
        let zk = ApacheZk::options(1)
            .tick_time(Duration::from_millis(500))
            .servers(servers)
            .expect("server binary")
            .config("ssl.keyStore.password=changeit")
            .config("ssl.trustStore.password=changeit")
            .tls(tls.clone())
            .start()
            .await
            .unwrap_or_else(|e| panic!("{servers:?} with JKS stores: {e}"));
        let addr = format!("127.0.0.1:{}", zk.secure_port(0).expect("port"));

        // Our client with PEM files reaches it...
        let pem = TlsOptions::with_ca_pem_file(ca.cert_path())
            .client_cert_pem_files(&client.cert, &client.key);
        let c = within("mTLS connect", builder(pem).connect(&addr))
            .await
            .unwrap_or_else(|e| panic!("{servers:?}, PEM client: {e}"));
        c.create("/jks", b"", &CreateOptions::ephemeral())
            .await
            .expect("create");
        c.close().await.expect("close");

        // ...and with JKS stores of its own, the certificate's subject its x509 id.
        let jks = TlsOptions::with_ca_jks_file(&trust_store, "changeit")
            .client_identity_jks_file(&client_store, "client-pw");
        let c = within("mTLS connect", builder(jks).connect(&addr))
            .await
            .unwrap_or_else(|e| panic!("{servers:?}, JKS client: {e}"));
        let ids = c.whoami().await.expect("whoami");
        assert!(
            ids.iter()
                .any(|id| id.auth_scheme == "x509" && id.user.contains("zkmesh test client")),
            "{servers:?}: {ids:?}"
        );
        c.close().await.expect("close");

        // keytool writes PKCS#12 unless told otherwise, whatever the name: a `.jks` file
        // may hold PKCS#12, and Java (so we) reads it as such.
        let named_jks = client_store.with_file_name("client-really-pkcs12.jks");
        std::fs::copy(
            ca.java_key_store(&client, JavaStore::Pkcs12Keytool, "client-pw")
                .expect("a PKCS#12 key store"),
            &named_jks,
        )
        .expect("copy");
        let jks = TlsOptions::with_ca_jks_file(&trust_store, "changeit")
            .client_identity_jks_file(&named_jks, "client-pw");
        let c = within("mTLS connect", builder(jks).connect(&addr))
            .await
            .unwrap_or_else(|e| panic!("{servers:?}, PKCS#12 named .jks: {e}"));
        c.close().await.expect("close");
    }

    // A wrong password fails the store's integrity check: a configuration error naming
    // the file, before anything connects.
    let e = TlsOptions::with_ca_jks_file(&trust_store, "wrong");
    let e = match within("connect", builder(e).connect("127.0.0.1:1")).await {
        Ok(_) => panic!("connected with a wrong trust store password"),
        Err(e) => e,
    };
    assert!(
        matches!(&e, Error::TlsConfig(m) if m.contains("integrity") && m.contains("trust.jks")),
        "{e:?}"
    );
}

async fn a_server_with_pkcs12_stores_takes_a_client_with_pkcs12_stores(servers: Servers) {
    // One zoo.cfg for both servers, with the stores a Java shop has: a PKCS#12 key store
    // converted by keytool and a keytool trust store, each with its password.
    let (_dir, ca, server, client) = certificates();
    let key_store = ca
        .java_key_store(&server, JavaStore::Pkcs12Keytool, "server-pw")
        .expect("a PKCS#12 key store");
    let trust_store = ca.pkcs12_trust_store("trust-pw").expect("a trust store");
    let zk = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .servers(servers)
        .expect("server binary")
        .config("ssl.keyStore.password=server-pw")
        .config("ssl.trustStore.password=trust-pw")
        .tls(ServerTls {
            key_store,
            trust_store: trust_store.clone(),
            client_auth: ClientAuth::Need,
        })
        .start()
        .await
        .expect("a server with PKCS#12 stores");
    let addr = format!("127.0.0.1:{}", zk.secure_port(0).expect("port"));

    let client_store = ca
        .java_key_store(&client, JavaStore::Pkcs12, "client-pw")
        .expect("a client key store");
    let tls = TlsOptions::with_ca_pkcs12_file(&trust_store, "trust-pw")
        .client_identity_pkcs12_file(&client_store, "client-pw");
    let c = within("mTLS connect", builder(tls).connect(&addr))
        .await
        .expect("connect with PKCS#12 stores");
    // The server checked the certificate from the client's store against its PKCS#12
    // trust store, and took its subject as the connection's x509 identity.
    let ids = c.whoami().await.expect("whoami");
    assert!(
        ids.iter()
            .any(|id| id.auth_scheme == "x509" && id.user.contains("zkmesh test client")),
        "{ids:?}"
    );
    c.close().await.expect("close");

    let e = refused(
        TlsOptions::with_ca_pkcs12_file(&trust_store, "trust-pw"),
        &addr,
    )
    .await;
    assert_eq!(tls_kind(&e), Some(TlsFailure::Refused), "{e}");
}

#[tokio::test]
async fn our_client_opens_the_pkcs12_stores_keytool_and_openssl_make() {
    // Java clients' stores as they are: a PKCS#12 trust store from keytool, and client key
    // stores from openssl (current and legacy encryption) and keytool. Apache requires the
    // client certificate, so each store must yield a working key, not just parse.
    let s = secure_server(Servers::Apache, ClientAuth::Need).await;
    let connect = s.addr().to_string();
    let trust =
        s.ca.pkcs12_trust_store("trust-pw")
            .expect("keytool makes a PKCS#12 trust store");
    for kind in [
        JavaStore::Pkcs12,
        JavaStore::Pkcs12Legacy,
        JavaStore::Pkcs12Keytool,
    ] {
        let key_store =
            s.ca.java_key_store(&s.client, kind, "key-pw")
                .expect("a PKCS#12 key store");
        let tls = TlsOptions::with_ca_pkcs12_file(&trust, "trust-pw")
            .client_identity_pkcs12_file(&key_store, "key-pw");
        let c = within("mTLS connect", builder(tls).connect(&connect))
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        c.create("/p12", b"", &CreateOptions::ephemeral())
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        c.close().await.expect("close");
    }

    // The same from the Java client's properties, the types told by the file extension.
    let key_store =
        s.ca.java_key_store(&s.client, JavaStore::Pkcs12Keytool, "key-pw")
            .expect("a PKCS#12 key store")
            .display()
            .to_string();
    let trust_store = trust.display().to_string();
    let properties = |key_password: &'static str| {
        zk_client::ClientBuilder::from_properties([
            ("zookeeper.client.secure", "true"),
            ("zookeeper.ssl.keyStore.location", key_store.as_str()),
            ("zookeeper.ssl.keyStore.password", key_password),
            ("zookeeper.ssl.trustStore.location", trust_store.as_str()),
            ("zookeeper.ssl.trustStore.password", "trust-pw"),
        ])
        .expect("properties")
        .session_timeout(Duration::from_secs(6))
        .establish_timeout(Duration::from_secs(4))
    };
    let c = within("mTLS connect", properties("key-pw").connect(&connect))
        .await
        .expect("connect from properties");
    assert!(c.exists("/").await.expect("exists").is_some());
    c.close().await.expect("close");

    // A wrong password is a configuration error naming the store, not a connect loop.
    let e = within("a refused connect", properties("wrong").connect(&connect))
        .await
        .expect_err("wrong key store password");
    assert!(
        matches!(&e, Error::TlsConfig(m) if m.contains(&key_store)),
        "{e:?}"
    );
    // An openssl export is not a trust store to Java (its certificate is not marked
    // trusted): refused with a sentence saying so rather than trusting nothing silently.
    let not_trusted =
        s.ca.java_key_store(&s.client, JavaStore::Pkcs12, "key-pw")
            .expect("a PKCS#12 key store");
    let e = refused(
        TlsOptions::with_ca_pkcs12_file(&not_trusted, "key-pw"),
        &connect,
    )
    .await;
    assert!(
        matches!(&e, Error::TlsConfig(m) if m.contains("trusted")),
        "{e:?}"
    );
}

#[tokio::test]
async fn encrypted_pem_keys_open_with_their_passwords() {
    // Apache's PEM key store may hold an encrypted key, opened with ssl.keyStore.password:
    // zk-server from such a zoo.cfg, and our client with an encrypted key of its own.
    let (_dir, ca, server, client) = certificates();
    let server_key = ca.encrypt_key(&server, "server-pw").expect("encrypt");
    let client_key = ca.encrypt_key(&client, "client-pw").expect("encrypt");
    let zk = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .servers(Servers::Bundled)
        .expect("server binary")
        .config("ssl.keyStore.password=server-pw")
        .tls(ServerTls {
            key_store: server_key.key_store.clone(),
            trust_store: ca.cert_path(),
            client_auth: ClientAuth::Need,
        })
        .start()
        .await
        .expect("zk-server with an encrypted key");
    let addr = format!("127.0.0.1:{}", zk.secure_port(0).expect("port"));

    let with_key = |password: Option<&str>| {
        let tls = TlsOptions::with_ca_pem_file(ca.cert_path())
            .client_cert_pem_files(&client_key.cert, &client_key.key);
        match password {
            Some(pw) => tls.client_key_password(pw),
            None => tls,
        }
    };
    let c = within(
        "mTLS connect",
        builder(with_key(Some("client-pw"))).connect(&addr),
    )
    .await
    .expect("connect with an encrypted client key");
    let ids = c.whoami().await.expect("whoami");
    assert!(ids.iter().any(|id| id.auth_scheme == "x509"), "{ids:?}");
    c.close().await.expect("close");

    // From the Java client's properties: the key store's password opens its key.
    let key_store = client_key.key_store.display().to_string();
    let trust_store = ca.cert_path().display().to_string();
    let from_properties = zk_client::ClientBuilder::from_properties([
        ("zookeeper.client.secure", "true"),
        ("zookeeper.ssl.keyStore.location", key_store.as_str()),
        ("zookeeper.ssl.keyStore.password", "client-pw"),
        ("zookeeper.ssl.trustStore.location", trust_store.as_str()),
    ])
    .expect("properties")
    .session_timeout(Duration::from_secs(6))
    .establish_timeout(Duration::from_secs(4));
    let c = within("mTLS connect", from_properties.connect(&addr))
        .await
        .expect("connect from properties");
    c.close().await.expect("close");

    // No password, or a wrong one: a configuration error naming the key file.
    for (password, says) in [(None, "no password"), (Some("wrong"), "cannot decrypt")] {
        let e = match within("connect", builder(with_key(password)).connect(&addr)).await {
            Ok(_) => panic!("connected with password {password:?}"),
            Err(e) => e,
        };
        assert!(
            matches!(&e, Error::TlsConfig(m) if m.contains(says) && m.contains("enc-key.pem")),
            "{e:?}"
        );
    }
}
