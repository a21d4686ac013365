//! TLS on the bundled server, beside Apache ZooKeeper 3.8 serving the same `zoo.cfg`:
//! identities from client certificates (`x509`) and the ACLs written for them, the Java
//! `zkCli.sh` and Python `kazoo` over TLS, and what hostile or broken TLS peers get —
//! a closed connection, while everyone else is served.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{perms, Acl, Client, CreateOptions, Error, Id, TlsOptions};
use zk_testkit::{ApacheZk, ClientAuth, Issued, ServerTls, TestCa};
use zkmesh_tests::clients::{assert_same, clients_dir, normalise_cli, run_with_env};
use zkmesh_tests::{init_tracing, within, Kind, TICK};

/// A test's certificates: a CA, the server's, three clients' and a stranger's from
/// another CA.
struct Certs {
    ca: TestCa,
    server: Issued,
    alice: Issued,
    bob: Issued,
    admin: Issued,
    stranger: Issued,
    expired: Issued,
    dir: tempfile::TempDir,
}

/// The subject Java prints for a certificate the test CA issued for `file`.
fn subject(file: &str) -> String {
    format!("CN=zkmesh test {file}")
}

fn certs() -> Certs {
    init_tracing();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "ca").expect("test CA");
    let other = TestCa::new(dir.path(), "other").expect("another CA");
    let issue = |ca: &TestCa, file: &str| ca.issue(file, &["127.0.0.1"]).expect("certificate");
    Certs {
        server: issue(&ca, "server"),
        alice: issue(&ca, "alice"),
        bob: issue(&ca, "bob"),
        admin: issue(&ca, "admin"),
        stranger: issue(&other, "stranger"),
        expired: ca
            .issue_expired("expired", &["127.0.0.1"])
            .expect("certificate"),
        ca,
        dir,
    }
}

/// A standalone server of `kind` from the same `zoo.cfg` either way: TLS on its secure
/// port, client certificates as `client_auth` says, `admin`'s certificate a super user.
async fn start(kind: Kind, certs: &Certs, client_auth: ClientAuth) -> ApacheZk {
    ApacheZk::options(1)
        .tick_time(TICK)
        .servers(kind.servers())
        .expect("server binary")
        .config(format!(
            "X509AuthenticationProvider.superUser={}",
            subject("admin")
        ))
        .tls(ServerTls {
            key_store: certs.server.key_store.clone(),
            trust_store: certs.ca.cert_path(),
            client_auth,
        })
        .start()
        .await
        .unwrap_or_else(|e| panic!("start {kind:?} with TLS: {e}"))
}

fn secure_addr(zk: &ApacheZk) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], zk.secure_port(0).expect("a secure port")))
}

/// Connects over TLS trusting the test CA, with `cert`'s certificate if given.
async fn connect(zk: &ApacheZk, certs: &Certs, cert: Option<&Issued>) -> Result<Client, Error> {
    let mut tls = TlsOptions::with_ca_pem_file(certs.ca.cert_path());
    if let Some(c) = cert {
        tls = tls.client_cert_pem_files(&c.cert, &c.key);
    }
    let addr = secure_addr(zk).to_string();
    let connect = Client::builder()
        .session_timeout(Duration::from_secs(4))
        .establish_timeout(Duration::from_secs(3))
        .tls(tls)
        .connect(&addr);
    within("a TLS connect", connect).await
}

fn outcome<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// What the x509 scenario observed on one server, a line per step.
async fn x509_transcript(kind: Kind, certs: &Certs) -> Vec<String> {
    let zk = start(kind, certs, ClientAuth::Want).await;
    let mut out = Vec::new();
    let alice = connect(&zk, certs, Some(&certs.alice))
        .await
        .expect("alice");
    let bob = connect(&zk, certs, Some(&certs.bob)).await.expect("bob");
    let admin = connect(&zk, certs, Some(&certs.admin))
        .await
        .expect("admin");
    let anonymous = connect(&zk, certs, None).await.expect("no certificate");
    for (who, c) in [
        ("alice", &alice),
        ("admin", &admin),
        ("anonymous", &anonymous),
    ] {
        let mut ids: Vec<String> = c
            .whoami()
            .await
            .expect("whoami")
            .into_iter()
            .map(|i| format!("{}={}", i.auth_scheme, i.user))
            .collect();
        ids.sort();
        out.push(format!("whoami {who}: {}", ids.join(" ")));
    }

    let alice_only = vec![Acl::new(perms::ALL, Id::new("x509", subject("alice")))];
    let created = alice
        .create(
            "/x509",
            b"secret",
            &CreateOptions::persistent().with_acl(alice_only),
        )
        .await;
    out.push(format!("create x509 ACL: {}", outcome(created)));
    for (who, c) in [
        ("alice", &alice),
        ("bob", &bob),
        ("admin", &admin),
        ("anonymous", &anonymous),
    ] {
        out.push(format!(
            "read as {who}: {}",
            outcome(c.get_data("/x509").await)
        ));
    }

    // `auth` stands for the caller's authenticated ids: the certificate's subject.
    let created = alice
        .create(
            "/mine",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await;
    out.push(format!("create auth ACL: {}", outcome(created)));
    let (acl, _) = alice.get_acl("/mine").await.expect("getACL");
    out.push(format!("ACL of /mine: {acl:?}"));
    let anonymous_auth = anonymous
        .create(
            "/theirs",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await;
    out.push(format!(
        "auth ACL without a certificate: {}",
        outcome(anonymous_auth)
    ));
    let garbled = vec![Acl::new(perms::ALL, Id::new("x509", "not a name"))];
    out.push(format!(
        "setACL with a malformed name: {}",
        outcome(alice.set_acl("/mine", &garbled, None).await)
    ));
    out
}

#[tokio::test]
async fn client_certificates_identify_and_authorise_the_same_on_both_servers() {
    let certs = certs();
    let apache = x509_transcript(Kind::Apache, &certs).await;
    let bundled = x509_transcript(Kind::Bundled, &certs).await;
    // What Apache does, spelled out, so that agreeing on something else cannot pass.
    let alice = subject("alice");
    for expected in [
        format!("whoami alice: ip=127.0.0.1 x509={alice}"),
        format!(
            "whoami admin: ip=127.0.0.1 super= x509={}",
            subject("admin")
        ),
        "whoami anonymous: ip=127.0.0.1".to_owned(),
        "read as alice: ok".to_owned(),
        "read as bob: NoAuth".to_owned(),
        "read as admin: ok".to_owned(),
        "read as anonymous: NoAuth".to_owned(),
        "auth ACL without a certificate: InvalidAcl".to_owned(),
        "setACL with a malformed name: InvalidAcl".to_owned(),
    ] {
        assert!(
            apache.contains(&expected),
            "Apache did not say {expected:?}:\n{}",
            apache.join("\n")
        );
    }
    assert_same("x509 scenario", &apache, &bundled);
}

/// The jars a Java client needs for TLS. Debian's `zkCli.sh` puts only `zookeeper.jar` on
/// its class path, whose manifest lacks Netty's resolver, so the Netty client socket (the
/// only one that speaks TLS) fails to load without these.
const JAVA_CLIENT_JARS: &[&str] = &[
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    "commons-cli",
    "netty-buffer",
    "netty-common",
    "netty-handler",
    "netty-resolver",
    "netty-codec",
    "netty-transport",
    "netty-transport-native-epoll",
    "netty-transport-native-unix-common",
];

/// JVM flags for zkCli over mutual TLS: the class path above and the Java client's TLS
/// properties with PEM stores.
fn java_tls_flags(certs: &Certs, client: &Issued) -> String {
    let class_path: Vec<String> = JAVA_CLIENT_JARS
        .iter()
        .map(|j| format!("/usr/share/java/{j}.jar"))
        .collect();
    [
        format!("-cp /etc/zookeeper/conf:{}", class_path.join(":")),
        "-Dzookeeper.client.secure=true".to_owned(),
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty".to_owned(),
        format!(
            "-Dzookeeper.ssl.keyStore.location={}",
            client.key_store.display()
        ),
        "-Dzookeeper.ssl.keyStore.type=PEM".to_owned(),
        format!(
            "-Dzookeeper.ssl.trustStore.location={}",
            certs.ca.cert_path().display()
        ),
        "-Dzookeeper.ssl.trustStore.type=PEM".to_owned(),
    ]
    .join(" ")
}

#[tokio::test]
async fn zkcli_over_mutual_tls_runs_the_same_on_both_servers() {
    let cli = "/usr/share/zookeeper/bin/zkCli.sh";
    assert!(
        Path::new(cli).exists(),
        "{cli} missing: run scripts/zk-apache.sh install"
    );
    let certs = certs();
    let script =
        "create /cli-tls hello\nget /cli-tls\nwhoami\ncreate /cli-tls/mine x auth::cdrwa\n\
                  getAcl /cli-tls/mine\nsetAcl /cli-tls world:anyone:r\nset /cli-tls again\n\
                  get /cli-tls\nquit\n";
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let zk = start(kind, &certs, ClientAuth::Need).await;
        let env = [("CLIENT_JVMFLAGS", java_tls_flags(&certs, &certs.alice))];
        let args = [
            "-waitforconnection".to_owned(),
            "-timeout".to_owned(),
            "30000".to_owned(),
            "-server".to_owned(),
            secure_addr(&zk).to_string(),
        ];
        let (_, text) = run_with_env(cli, &args, Some(script), &env).await;
        outputs.push(normalise_cli(&text));
    }
    let apache = &outputs[0];
    let alice = format!("x509: {}", subject("alice"));
    assert!(
        apache.iter().any(|l| l == "hello")
            && apache.iter().filter(|l| l.contains(&alice)).count() == 1
            && apache
                .iter()
                .any(|l| l.contains(&format!("'x509,'{}", subject("alice"))))
            && apache.iter().any(|l| l.contains("Insufficient permission")),
        "zkCli did not run the script over TLS:\n{}",
        apache.join("\n")
    );
    assert_same("zkCli over TLS", apache, &outputs[1]);
}

#[tokio::test]
async fn kazoo_over_mutual_tls_runs_the_same_on_both_servers() {
    let certs = certs();
    let script = clients_dir().join("kazoo_tls.py").display().to_string();
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let zk = start(kind, &certs, ClientAuth::Need).await;
        let args = [
            script.clone(),
            secure_addr(&zk).to_string(),
            certs.ca.cert_path().display().to_string(),
            certs.alice.cert.display().to_string(),
            certs.alice.key.display().to_string(),
            subject("alice"),
        ];
        let (ok, text) = run_with_env("python3", &args, None, &[]).await;
        assert!(
            ok && text.contains("kazoo tls: ok"),
            "kazoo over TLS failed against {kind:?}:\n{text}"
        );
        outputs.push(
            text.lines()
                .filter(|l| !l.starts_with("WARNING") && !l.starts_with("INFO"))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    assert_same("kazoo over TLS", &outputs[0], &outputs[1]);
}

/// Whether the server closes a connection that sent `bytes` (reads until the end,
/// discarding whatever an alert carries).
async fn closed_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    // The server may close while we are still writing: that is the point.
    let _ = s.write_all(bytes).await;
    let mut sink = vec![0u8; 64 * 1024];
    let read_to_end = async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read_to_end)
        .await
        .is_ok()
}

/// A ConnectRequest as a plaintext client sends it.
fn plaintext_connect() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes()); // protocol version
    body.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
    body.extend_from_slice(&4000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&0i64.to_be_bytes()); // session id
    body.extend_from_slice(&16i32.to_be_bytes()); // password
    body.extend_from_slice(&[0u8; 16]);
    body.push(0); // read-only
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

async fn hostile_peers_are_closed_and_others_served(kind: Kind) {
    let certs = certs();
    let zk = start(kind, &certs, ClientAuth::Need).await;
    let addr = secure_addr(&zk);
    let mut garbage = vec![0u8; 256 * 1024];
    rand::Rng::fill(&mut rand::thread_rng(), &mut garbage[..]);
    // A TLS record header announcing a handshake, then nonsense.
    let mut bad_hello = vec![0x16, 0x03, 0x01, 0x00, 0x40];
    bad_hello.extend_from_slice(&[0xff; 0x40]);
    for (what, bytes) in [
        ("a plaintext ConnectRequest", plaintext_connect()),
        ("random bytes", garbage),
        ("a four-letter word", b"ruok".to_vec()),
        ("a garbled ClientHello", bad_hello),
    ] {
        assert!(
            closed_after(addr, &bytes).await,
            "{kind:?} did not close a connection that sent {what}"
        );
    }
    // Certificates the server must not accept: another CA's, an expired one, none.
    for (what, cert) in [
        ("another CA's certificate", Some(&certs.stranger)),
        ("an expired certificate", Some(&certs.expired)),
        ("no certificate", None),
    ] {
        let refused = connect(&zk, &certs, cert).await;
        assert!(
            matches!(refused, Err(Error::Tls { .. })),
            "{kind:?} let in a client with {what}: {refused:?}"
        );
    }
    // The server is unharmed.
    let alice = connect(&zk, &certs, Some(&certs.alice))
        .await
        .expect("a trusted client still connects");
    alice
        .create("/after", b"", &CreateOptions::ephemeral())
        .await
        .expect("and is served");
    alice.close().await.expect("close");
    let _ = certs.dir.path();
}

#[tokio::test]
async fn apache_closes_hostile_tls_peers_and_serves_the_rest() {
    hostile_peers_are_closed_and_others_served(Kind::Apache).await;
}

#[tokio::test]
async fn zk_server_closes_hostile_tls_peers_and_serves_the_rest() {
    hostile_peers_are_closed_and_others_served(Kind::Bundled).await;
}

#[tokio::test]
async fn stalled_handshakes_time_out_without_holding_up_anyone() {
    let certs = certs();
    let server = zk_server::ServerHandle::builder()
        .port(0)
        .plaintext(false)
        .handshake_timeout(Duration::from_secs(1))
        .secure(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            zk_server::TlsSettings::new(&certs.server.key_store)
                .trust_store(certs.ca.cert_path())
                .client_auth(zk_server::ClientAuth::Want),
        )
        .start()
        .await
        .expect("start zk-server with TLS");
    let addr = server.secure_addr().expect("a TLS address");
    assert_eq!(server.addr(), addr, "TLS only: the TLS port is the address");
    // Peers that open a connection and stop, some halfway through a ClientHello.
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 0 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .expect("half a hello");
        }
        stalled.push(s);
    }
    // Meanwhile a real client is served at once.
    let tls = TlsOptions::with_ca_pem_file(certs.ca.cert_path());
    let client = within(
        "a TLS connect beside stalled peers",
        Client::builder().tls(tls).connect(&addr.to_string()),
    )
    .await
    .expect("connect");
    assert!(client.exists("/").await.expect("exists").is_some());
    // Each stalled peer is closed once the handshake timeout passes.
    for mut s in stalled {
        let mut buf = [0u8; 256];
        let closed = within("a stalled handshake closed", async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        closed.await;
    }
    // Each is counted as a failed handshake (the count may trail the close a moment);
    // the client's handshake is not.
    within("every stalled handshake counted", async {
        while server.tls_handshake_failures() < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(server.tls_handshake_failures(), 20);
    client.close().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn an_ensemble_with_ssl_quorum_from_one_zoo_cfg_serves_on_both_servers() {
    let certs = certs();
    for kind in [Kind::Apache, Kind::Bundled] {
        let key_store = certs.server.key_store.display().to_string();
        let trust_store = certs.ca.cert_path().display().to_string();
        let zk = ApacheZk::options(3)
            .tick_time(TICK)
            .servers(kind.servers())
            .expect("server binary")
            .config("sslQuorum=true")
            .config("serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory")
            .config(format!("ssl.quorum.keyStore.location={key_store}"))
            .config("ssl.quorum.keyStore.type=PEM")
            .config(format!("ssl.quorum.trustStore.location={trust_store}"))
            .config("ssl.quorum.trustStore.type=PEM")
            .tls(ServerTls {
                key_store: certs.server.key_store.clone(),
                trust_store: certs.ca.cert_path(),
                client_auth: ClientAuth::Need,
            })
            .start()
            .await
            .unwrap_or_else(|e| panic!("start a {kind:?} ensemble with sslQuorum: {e}"));
        // Written through one member, read through another: replicated over TLS.
        let first = Client::builder()
            .connect(&zk.client_addr(0).to_string())
            .await
            .expect("connect");
        let second = Client::builder()
            .connect(&zk.client_addr(2).to_string())
            .await
            .expect("connect");
        within(
            "a write over the TLS quorum",
            first.create("/quorum-tls", b"", &CreateOptions::persistent()),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: create: {e}"));
        second.sync("/quorum-tls").await.expect("sync");
        assert!(
            second
                .exists("/quorum-tls")
                .await
                .expect("exists")
                .is_some(),
            "{kind:?}: the write did not reach another member"
        );
        // Every member also serves clients over TLS, with their certificates' ids.
        let third = connect(&zk, &certs, Some(&certs.alice))
            .await
            .expect("a TLS client of the ensemble");
        third.sync("/quorum-tls").await.expect("sync");
        assert!(third.exists("/quorum-tls").await.expect("exists").is_some());
        let ids: Vec<String> = third
            .whoami()
            .await
            .expect("whoami")
            .into_iter()
            .map(|i| i.auth_scheme)
            .collect();
        assert!(ids.contains(&"x509".to_owned()), "{kind:?}: {ids:?}");
        first.close().await.expect("close");
        second.close().await.expect("close");
        third.close().await.expect("close");
    }
}
