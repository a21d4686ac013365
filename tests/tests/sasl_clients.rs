//! Clients we did not write, with SASL DIGEST-MD5: the Python `kazoo` client (through
//! pure-sasl) and the Java `zkCli.sh` (credentials from a JAAS `Client` section named by
//! `CLIENT_JVMFLAGS`). Each runs the same script against Apache ZooKeeper 3.8 and against
//! zk-server, both started from the same options (a JAAS `Server` section given as the
//! JVM property `java.security.auth.login.config`, `SASLAuthenticationProvider`
//! registered); the normalised outputs must be identical.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zk_testkit::{ApacheZk, Servers};
use zkmesh_tests::clients::{assert_same, clients_dir, normalise_cli, run, run_with_env};

const SERVER_JAAS: &str = r#"
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="secret"
    user_bob="pw";
};
"#;

const CLIENT_JAAS: &str = r#"
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="alice"
    password="secret";
};
"#;

/// A standalone server of `servers` with SASL on, its JAAS file in `dir`.
async fn sasl_server(servers: Servers, dir: &Path) -> ApacheZk {
    let jaas = write(dir, "server-jaas.conf", SERVER_JAAS);
    ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .config("authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
        .jvm_property("java.security.auth.login.config", jaas.display())
        .servers(servers)
        .expect("the bundled zk-server binary")
        .start()
        .await
        .expect("start a server with SASL")
}

/// A directory of its own for each test and server.
fn scratch(test: &str, servers: Servers) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("zkmesh-{test}-{servers:?}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a JAAS file");
    path
}

#[tokio::test]
async fn kazoo_sasl_runs_the_same_on_both_servers() {
    let (ok, text) = run(
        "python3",
        &["-c".into(), "import kazoo, puresasl".into()],
        None,
    )
    .await;
    assert!(
        ok,
        "kazoo or pure-sasl is not installed (pip install kazoo pure-sasl; scripts/test.sh \
         does): {text}"
    );
    let script = clients_dir().join("kazoo_sasl.py").display().to_string();
    let mut outputs = Vec::new();
    for servers in [Servers::Apache, Servers::Bundled] {
        let dir = scratch("kazoo-sasl", servers);
        let zk = sasl_server(servers, &dir).await;
        let (ok, text) = run(
            "python3",
            &[script.clone(), zk.connect_string().to_owned()],
            None,
        )
        .await;
        let stdout: Vec<String> = text
            .lines()
            .take_while(|l| !l.starts_with("Traceback"))
            // kazoo's logging lines, which come and go with thread timing
            .filter(|l| !l.contains(" - ") && !l.starts_with("AUTH_FAILED"))
            .map(str::to_owned)
            .collect();
        assert!(
            ok && stdout.iter().any(|l| l == "kazoo sasl: ok"),
            "kazoo_sasl.py failed against {servers:?}:\n{text}"
        );
        outputs.push(stdout);
    }
    for expected in ["bob: NoAuthError", "wrong password: refused"] {
        assert!(
            outputs[0].iter().any(|l| l == expected),
            "Apache did not say {expected:?}: {:?}",
            outputs[0]
        );
    }
    assert_same("kazoo sasl", &outputs[0], &outputs[1]);
}

#[tokio::test]
async fn zkcli_with_a_jaas_client_section_runs_the_same_on_both_servers() {
    let cli = "/usr/share/zookeeper/bin/zkCli.sh";
    assert!(
        std::path::Path::new(cli).exists(),
        "{cli} missing: run scripts/zk-apache.sh install"
    );
    let script =
        std::fs::read_to_string(clients_dir().join("zkcli_sasl_script.txt")).expect("script");
    let mut outputs = Vec::new();
    for servers in [Servers::Apache, Servers::Bundled] {
        let dir = scratch("zkcli-sasl", servers);
        let zk = sasl_server(servers, &dir).await;
        let client_jaas = write(&dir, "client-jaas.conf", CLIENT_JAAS);
        let (_, text) = run_with_env(
            cli,
            &["-server".into(), zk.connect_string().to_owned()],
            Some(&script),
            &[(
                "CLIENT_JVMFLAGS",
                format!(
                    "-Djava.security.auth.login.config={}",
                    client_jaas.display()
                ),
            )],
        )
        .await;
        outputs.push(normalise_cli(&text));
    }
    assert!(
        outputs[0].iter().any(|l| l == "sasl: alice"),
        "zkCli did not authenticate as alice:\n{}",
        outputs[0].join("\n")
    );
    assert_same("zkCli with SASL", &outputs[0], &outputs[1]);
}
