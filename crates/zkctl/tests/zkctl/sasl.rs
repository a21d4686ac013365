//! The SASL options against a bundled server that knows DIGEST-MD5 users and requires
//! every client to authenticate (Apache's `sessionRequireClientSASLAuth`).

use zk_server::{SaslSettings, ServerHandle};

use crate::common::*;

#[tokio::test]
async fn sasl_credentials_and_jaas_files_authenticate_and_bad_ones_are_refused() {
    let server = ServerHandle::builder()
        .port(0)
        .sasl(SaslSettings::digest_md5([("alice", "secret")]))
        .enforce_auth(vec!["sasl".into()])
        .start()
        .await
        .expect("a server with SASL");
    let addr = server.connect_string();

    // Given on the command line: the session authenticates.
    zkctl(&addr, &["--sasl", "alice:secret", "create", "/sasl", "yes"])
        .await
        .ok();
    // From a JAAS file's Client section, as a Java client would read it.
    let jaas = TempFile::new(
        "Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         username=\"alice\" password=\"secret\";\n};\n",
    );
    let got = zkctl(&addr, &["--jaas", jaas.arg(), "get", "/sasl"]).await;
    got.ok();
    assert_eq!(got.stdout.trim(), "yes");

    // A wrong password is refused: not a connection problem, and no retry loop (the
    // command ends well within its timeout).
    let refused = zkctl(&addr, &["--sasl", "alice:wrong", "get", "/sasl"]).await;
    refused.expect_code(1);
    assert!(
        refused.stderr.to_lowercase().contains("auth"),
        "{refused:?}"
    );
    // Without credentials this server refuses every request: not authorized.
    let anonymous = zkctl(&addr, &["--timeout", "3", "get", "/sasl"]).await;
    anonymous.expect_code(1);
    assert!(anonymous.stderr.contains("SASL"), "{anonymous:?}");
    // Malformed options are usage errors.
    zkctl(&addr, &["--sasl", "alice", "get", "/sasl"])
        .await
        .expect_code(2);
    let broken = TempFile::new("Client {\n  nonsense\n");
    zkctl(&addr, &["--jaas", broken.arg(), "get", "/sasl"])
        .await
        .expect_code(2);
    server.shutdown().await;
}
