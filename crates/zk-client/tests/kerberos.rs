//! SASL GSSAPI (Kerberos) against real Apache ZooKeeper 3.8 and a throwaway MIT KDC
//! (zk-testkit's `TestKdc`): the server logs in as `zookeeper/localhost` from its keytab
//! (JAAS `Server` section, Krb5LoginModule), `SASLAuthenticationProvider` is registered,
//! and the client authenticates as `alice` from a keytab or a `kinit`ed credential cache.
//!
//! Built only with `--features zk-client/kerberos`. Each test points the process's MIT
//! library at its own realm (`KRB5_CONFIG`, `KRB5CCNAME`), so the tests need a process each,
//! as nextest gives them.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use zk_client::kerberos::KerberosOptions;
use zk_client::{perms, Acl, Client, ClientBuilder, CreateOptions, Error, Id, SaslOptions};
use zk_testkit::TestKdc;

struct Kerberized {
    zk: ApacheZk,
    kdc: TestKdc,
    jaas: PathBuf,
}

/// A realm, then a standalone Apache server that logs in to it as `zookeeper/localhost`.
/// The JAAS file also has a `Client` section for alice, as a Java client's would.
async fn kerberized() -> Kerberized {
    kerberized_with(&[]).await
}

/// [`kerberized`] with extra JVM properties for the server.
async fn kerberized_with(properties: &[(&str, &str)]) -> Kerberized {
    init_tracing();
    let kdc = TestKdc::start().await.expect("start a KDC");
    kdc.apply_env();
    let jaas = kdc.dir().join("jaas.conf");
    std::fs::write(
        &jaas,
        format!(
            r#"
Server {{
    com.sun.security.auth.module.Krb5LoginModule required
    useKeyTab=true
    keyTab="{service_keytab}"
    storeKey=true
    useTicketCache=false
    principal="{service}";
}};
Client {{
    com.sun.security.auth.module.Krb5LoginModule required
    useKeyTab=true
    keyTab="{client_keytab}"
    storeKey=true
    useTicketCache=false
    principal="{client}";
}};
"#,
            service_keytab = kdc.service_keytab().display(),
            service = kdc.service_principal(),
            client_keytab = kdc.client_keytab().display(),
            client = kdc.client_principal(),
        ),
    )
    .expect("write the JAAS file");
    let mut options = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .config("authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
        .jvm_property("java.security.auth.login.config", jaas.display())
        .jvm_property("java.security.krb5.conf", kdc.krb5_conf().display())
        .jvm_property("sun.security.krb5.disableReferrals", true);
    for (key, value) in properties {
        options = options.jvm_property(key, value);
    }
    let zk = options
        .start()
        .await
        .expect("start Apache ZooKeeper with Kerberos");
    Kerberized { zk, kdc, jaas }
}

fn builder() -> ClientBuilder {
    Client::builder()
        .session_timeout(Duration::from_secs(6))
        .establish_timeout(Duration::from_secs(10))
        // A client that wrongly retried a refusal would show up quickly.
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

fn only(principal: &str) -> CreateOptions {
    CreateOptions::persistent().with_acl(vec![Acl::new(perms::ALL, Id::new("sasl", principal))])
}

/// `host:port` of the server with the host spelled `localhost`, as the service principal is.
fn localhost(k: &Kerberized) -> String {
    format!("localhost:{}", k.zk.client_addr(0).port())
}

#[tokio::test]
async fn a_keytab_from_jaas_authenticates_as_the_whole_principal_which_a_sasl_acl_admits() {
    let k = kerberized().await;
    let sasl = SaslOptions::from_jaas_file(&k.jaas, None).expect("JAAS Client section");
    assert_eq!(sasl.mechanism_name(), "GSSAPI");
    let alice = within(
        "connect as alice",
        builder().sasl(sasl).connect(&localhost(&k)),
    )
    .await
    .expect("alice authenticates");
    // Apache keeps the realm (kerberos.removeRealmFromPrincipal defaults to false).
    let principal = k.kdc.client_principal();
    let me = alice.whoami().await.expect("whoami");
    assert!(
        me.iter()
            .any(|i| i.auth_scheme == "sasl" && i.user == principal),
        "{me:?}"
    );
    alice
        .create("/alice", b"hers", &only(&principal))
        .await
        .expect("create a node only alice may read");
    assert_eq!(
        &alice.get_data("/alice").await.expect("alice reads").0[..],
        b"hers"
    );

    let anyone = client(k.zk.connect_string()).await;
    assert_eq!(anyone.get_data("/alice").await, Err(Error::NoAuth));
}

#[tokio::test]
async fn the_credential_cache_of_kinit_serves_and_every_reconnection_authenticates_again() {
    let k = kerberized().await;
    k.kdc.kinit_client().await.expect("kinit alice");
    let principal = k.kdc.client_principal();
    // Through the proxy the connect string is 127.0.0.1: the service's host name comes from
    // canonicalization (krb5.conf's rdns maps 127.0.0.1 back to localhost).
    let proxy = FaultProxy::start(k.zk.client_addr(0)).await.expect("proxy");
    let alice = within(
        "connect as alice",
        builder()
            .sasl(SaslOptions::kerberos(&principal))
            .connect(&proxy.addr().to_string()),
    )
    .await
    .expect("alice authenticates from the credential cache");
    alice
        .create("/alice", b"hers", &only(&principal))
        .await
        .expect("create");
    read_after_reconnect(&alice, &proxy, "/alice", b"hers").await;
}

#[tokio::test]
async fn a_server_removing_the_realm_knows_alice_by_her_short_name() {
    let k = kerberized_with(&[("zookeeper.kerberos.removeRealmFromPrincipal", "true")]).await;
    let sasl = KerberosOptions::new(k.kdc.client_principal()).with_keytab(k.kdc.client_keytab());
    let alice = within(
        "connect as alice",
        builder().sasl(sasl.into()).connect(&localhost(&k)),
    )
    .await
    .expect("alice authenticates");
    let me = alice.whoami().await.expect("whoami");
    assert!(
        me.iter()
            .any(|i| i.auth_scheme == "sasl" && i.user == "alice"),
        "{me:?}"
    );
    alice
        .create("/alice", b"", &only("alice"))
        .await
        .expect("create");
    alice
        .get_data("/alice")
        .await
        .expect("the short-name ACL admits alice");
}

/// Connects through a proxy with `sasl`, expects `AuthFailed`, and checks the client
/// connected once and never again.
async fn refused_once(k: &Kerberized, sasl: SaslOptions) {
    let proxy = FaultProxy::start(k.zk.client_addr(0)).await.expect("proxy");
    let target = format!("localhost:{}", proxy.addr().port());
    let result = within("the refusal", builder().sasl(sasl).connect(&target)).await;
    assert!(matches!(result, Err(Error::AuthFailed)), "{result:?}");
    assert_eq!(proxy.connections_accepted(), 1);
    // With a 10-50 ms back-off a retrying client would have connected again many times.
    never(
        Duration::from_secs(2),
        wait_until("a second connection", || proxy.connections_accepted() > 1),
    )
    .await;
}

#[tokio::test]
async fn a_principal_without_credentials_fails_once_with_auth_failed() {
    let k = kerberized().await;
    // bob exists but has no keytab and nothing in the (empty) credential cache.
    refused_once(&k, SaslOptions::kerberos(k.kdc.keyless_principal())).await;
    // A keytab that does not hold the principal's key.
    refused_once(
        &k,
        KerberosOptions::new(k.kdc.keyless_principal())
            .with_keytab(k.kdc.client_keytab())
            .into(),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_service_principal_fails_once_with_auth_failed() {
    let k = kerberized().await;
    let sasl = KerberosOptions::new(k.kdc.client_principal())
        .with_keytab(k.kdc.client_keytab())
        .with_server_principal("zookeeper/nowhere");
    refused_once(&k, sasl.into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_kdc_that_never_answers_holds_up_no_other_task_on_the_runtime() {
    // MIT's library asks the KDC synchronously. Started on the runtime's only worker, a
    // silent KDC would stall every task there until the library gave up.
    let k = kerberized().await;
    // A KDC that takes every request and answers none, closing after three seconds so the
    // library gives up within the test's patience (over TCP only: `udp_preference_limit`).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for conn in silent.incoming() {
            std::thread::sleep(Duration::from_secs(3));
            drop(conn);
        }
    });
    let conf = std::fs::read_to_string(k.kdc.krb5_conf()).expect("krb5.conf");
    let kdc_line = conf
        .lines()
        .find(|l| l.trim_start().starts_with("kdc = 127.0.0.1:"))
        .expect("the realm's kdc line")
        .to_owned();
    let silenced = k.kdc.dir().join("krb5-silent.conf");
    let conf = conf
        .replace(&kdc_line, &format!("        kdc = 127.0.0.1:{port}"))
        .replace(
            "[libdefaults]",
            "[libdefaults]\n    udp_preference_limit = 1",
        );
    std::fs::write(&silenced, conf).expect("write krb5.conf");
    std::env::set_var("KRB5_CONFIG", &silenced);

    let (ticked, mut enough) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = ticked.send(());
    });
    let sasl = KerberosOptions::new(k.kdc.client_principal())
        .with_keytab(k.kdc.client_keytab())
        .into();
    let target = localhost(&k);
    let mut connect = tokio::spawn(async move { builder().sasl(sasl).connect(&target).await });
    tokio::select! {
        biased;
        _ = &mut enough => {}
        done = &mut connect => panic!(
            "the connect ended before another task could run 10 ticks: {:?}",
            done.map(|r| r.map(|_| "connected"))
        ),
    }
    // The library gives up in the end: a typed failure, not a hang.
    let result = within("the connect", connect).await.expect("connect task");
    assert!(matches!(result, Err(Error::AuthFailed)), "{result:?}");
}
