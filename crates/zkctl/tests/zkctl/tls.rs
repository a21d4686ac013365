//! The TLS options against Apache ZooKeeper 3.8 serving TLS only to clients with a
//! certificate from its CA (`ssl.clientAuth=need`), with certificates made at test time.

use std::time::Duration;

use zk_testkit::{ApacheZk, ClientAuth, ServerTls, TestCa};

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
}
