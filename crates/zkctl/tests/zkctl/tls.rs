//! The TLS options against Apache ZooKeeper 3.8 serving TLS only to clients with a
//! certificate from its CA (`ssl.clientAuth=need`), with certificates made at test time.

use std::time::Duration;

use zk_testkit::{ApacheZk, ClientAuth, JavaStore, ServerTls, TestCa};

use crate::common::*;

#[tokio::test]
async fn tls_options_reach_a_server_that_needs_a_client_certificate() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "ca").expect("test CA");
    let server_cert = ca
        .issue("server", &["127.0.0.1"])
        .expect("server certificate");
    let client = ca
        .issue("client", &["zkctl.test"])
        .expect("client certificate");
    let stranger = TestCa::new(dir.path(), "stranger").expect("another CA");
    let zk = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .tls(ServerTls {
            key_store: server_cert.key_store.clone(),
            trust_store: ca.cert_path(),
            client_auth: ClientAuth::Need,
        })
        .start()
        .await
        .expect("Apache ZooKeeper with TLS");
    let server = format!("127.0.0.1:{}", zk.secure_port(0).expect("a secure port"));
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let (ca_file, cert, key) = (path(&ca.cert_path()), path(&client.cert), path(&client.key));

    // Trusting its CA and showing a certificate: commands work as over plain TCP.
    let with_cert = ["--tls-ca", &ca_file, "--tls-cert", &cert, "--tls-key", &key];
    let args = |rest: &[&'static str]| {
        let mut all: Vec<&str> = with_cert.to_vec();
        all.extend_from_slice(rest);
        all
    };
    zkctl(&server, &args(&["create", "/secure", "yes"]))
        .await
        .ok();
    let got = zkctl(&server, &args(&["get", "/secure"])).await;
    got.ok();
    assert_eq!(got.stdout.trim(), "yes");

    // Without a client certificate the server refuses the handshake: a connection failure.
    zkctl(
        &server,
        &["--timeout", "3", "--tls-ca", &ca_file, "get", "/secure"],
    )
    .await
    .expect_code(5);
    // A server whose certificate another CA signed is not trusted: the same.
    let stranger_ca = path(&stranger.cert_path());
    let untrusted = [
        "--timeout",
        "3",
        "--tls-ca",
        &stranger_ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "get",
        "/secure",
    ];
    let refused = zkctl(&server, &untrusted).await;
    refused.expect_code(5);
    assert!(
        refused.stderr.contains("TLS") || refused.stderr.contains("tls"),
        "{refused:?}"
    );
    // A CA file that is not there is a bad option.
    zkctl(
        &server,
        &["--tls-ca", "/nonexistent/ca.pem", "get", "/secure"],
    )
    .await
    .expect_code(2);
    // A certificate without its key is a usage error before anything connects.
    zkctl(&server, &["--tls-cert", &cert, "get", "/secure"])
        .await
        .expect_code(2);

    // A Java client's TLS properties file (Kafka's --zk-tls-config-file), with PKCS#12
    // stores and their passwords: the same access.
    let key_store = ca
        .java_key_store(&client, JavaStore::Pkcs12, "key-pw")
        .expect("a PKCS#12 key store");
    let trust_store = ca.pkcs12_trust_store("trust-pw").expect("a trust store");
    let properties = |key_password: &str| {
        let file = dir.path().join(format!("client-{key_password}.properties"));
        let text = format!(
            "# as a Java client has it\n\
             zookeeper.ssl.keyStore.location={}\n\
             zookeeper.ssl.keyStore.password={key_password}\n\
             zookeeper.ssl.trustStore.location={}\n\
             zookeeper.ssl.trustStore.password=trust-pw\n",
            key_store.display(),
            trust_store.display()
        );
        std::fs::write(&file, text).expect("write the properties");
        path(&file)
    };
    let good = properties("key-pw");
    let got = zkctl(&server, &["--tls-config", &good, "get", "/secure"]).await;
    got.ok();
    assert_eq!(got.stdout.trim(), "yes");
    // A wrong store password is named, not retried against the server.
    let bad = properties("wrong");
    let refused = zkctl(&server, &["--tls-config", &bad, "get", "/secure"]).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("PKCS#12"), "{refused:?}");
    // It cannot be mixed with the flags it replaces.
    zkctl(
        &server,
        &[
            "--tls-config",
            &good,
            "--tls-ca",
            &ca_file,
            "get",
            "/secure",
        ],
    )
    .await
    .expect_code(2);
}
