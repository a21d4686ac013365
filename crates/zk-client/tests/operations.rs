//! Every operation and its error cases, against a real Apache ZooKeeper 3.8.

mod common;

use std::time::Duration;

use common::*;
use zk_client::{
    digest_id, perms, Acl, Client, CreateMode, CreateOptions, Error, ErrorCode, Id, Op, OpResult,
    ReadOp, ReadResult,
};

#[tokio::test]
async fn create_get_set_delete_round_trip_with_stats() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let (path, stat) = c
        .create("/n", b"v1", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(path, "/n");
    assert_eq!(
        (stat.version, stat.data_length, stat.num_children),
        (0, 2, 0)
    );
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.ephemeral_owner, 0);

    let (data, got) = c.get_data("/n").await.unwrap();
    assert_eq!(&data[..], b"v1");
    assert_eq!(got, stat);

    let s2 = c.set_data("/n", b"v22", Some(0)).await.unwrap();
    assert_eq!((s2.version, s2.data_length), (1, 3));
    assert!(s2.mzxid > stat.mzxid);
    assert_eq!(
        c.set_data("/n", b"x", Some(0)).await,
        Err(Error::BadVersion)
    );

    assert_eq!(c.exists("/n").await.unwrap(), Some(s2));
    assert_eq!(c.delete("/n", Some(0)).await, Err(Error::BadVersion));
    c.delete("/n", Some(1)).await.unwrap();
    assert_eq!(c.exists("/n").await.unwrap(), None);
    assert_eq!(c.get_data("/n").await, Err(Error::NoNode));
    assert_eq!(c.delete("/n", None).await, Err(Error::NoNode));
    assert_eq!(c.set_data("/n", b"", None).await, Err(Error::NoNode));
}

#[tokio::test]
async fn create_errors_come_back_typed() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let p = CreateOptions::persistent();
    c.create("/e", b"", &p).await.unwrap();
    assert_eq!(c.create("/e", b"", &p).await, Err(Error::NodeExists));
    assert_eq!(
        c.create("/missing/child", b"", &p).await,
        Err(Error::NoNode)
    );
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(
        c.create("/eph/c", b"", &p).await,
        Err(Error::NoChildrenForEphemerals)
    );
    c.create("/e/c", b"", &p).await.unwrap();
    assert_eq!(c.delete("/e", None).await, Err(Error::NotEmpty));
    assert_eq!(c.delete("/zookeeper", None).await, Err(Error::BadArguments));
    assert_eq!(
        c.create("/bad", b"", &p.clone().with_acl(vec![])).await,
        Err(Error::InvalidAcl)
    );
    let bad_acl = vec![Acl::new(perms::ALL, Id::new("digest", "nocolon"))];
    assert_eq!(
        c.create("/bad", b"", &p.with_acl(bad_acl)).await,
        Err(Error::InvalidAcl)
    );
}

#[tokio::test]
async fn invalid_paths_are_refused_before_sending() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    for bad in [
        "",
        "noslash",
        "/trailing/",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/nul\0",
    ] {
        let err = c.get_data(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err:?}");
        let err = c
            .create(bad, b"", &CreateOptions::persistent())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err:?}");
    }
    // The session is unaffected.
    assert!(c.exists("/").await.unwrap().is_some());
}

#[tokio::test]
async fn sequential_nodes_are_numbered_by_the_parent_cversion() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/q", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/q/plain", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let seq = CreateOptions::new(CreateMode::PersistentSequential);
    let (a, _) = c.create("/q/job-", b"", &seq).await.unwrap();
    let (b, _) = c.create("/q/job-", b"", &seq).await.unwrap();
    assert_eq!(a, "/q/job-0000000001");
    assert_eq!(b, "/q/job-0000000002");
    c.delete(&b, None).await.unwrap();
    let (e, stat) = c
        .create(
            "/q/",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(e, "/q/0000000003");
    assert_eq!(stat.ephemeral_owner, c.session_id());
}

#[tokio::test]
async fn container_and_ttl_nodes_are_created_with_their_opcodes() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let (p, stat) = c
        .create("/box", b"", &CreateOptions::new(CreateMode::Container))
        .await
        .unwrap();
    assert_eq!(p, "/box");
    assert_eq!(stat.ephemeral_owner, 0);
    c.create("/box/item", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    // Deleting the last child makes the container a candidate for the server's cleanup
    // (every second in the test cluster).
    let (_, watch) = c.exists_and_watch("/box").await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let ev = within("container removal", watch).await;
    assert_eq!(ev.event_type, zk_client::EventType::NodeDeleted);

    let ttl =
        CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(Duration::from_millis(500));
    let (p, stat) = c.create("/ttl", b"x", &ttl).await.unwrap();
    assert_eq!((p.as_str(), stat.ephemeral_owner), ("/ttl", 0));
    let (_, watch) = c.exists_and_watch("/ttl").await.unwrap();
    assert_eq!(
        within("ttl expiry", watch).await.event_type,
        zk_client::EventType::NodeDeleted
    );

    let seq_ttl = CreateOptions::new(CreateMode::PersistentSequentialWithTtl)
        .with_ttl(Duration::from_secs(60));
    let (p, _) = c.create("/ttlseq-", b"", &seq_ttl).await.unwrap();
    assert!(p.starts_with("/ttlseq-00000"), "{p}");

    let no_ttl = CreateOptions::new(CreateMode::PersistentWithTtl);
    assert!(matches!(
        c.create("/t", b"", &no_ttl).await,
        Err(Error::InvalidArgument(_))
    ));
    let stray_ttl = CreateOptions::persistent().with_ttl(Duration::from_secs(1));
    assert!(matches!(
        c.create("/t", b"", &stray_ttl).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn children_with_and_without_stat() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    for name in ["a", "b", "c"] {
        c.create(&format!("/p/{name}"), b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let mut kids = c.get_children("/p").await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "b", "c"]);
    let (mut kids2, stat) = c.get_children_with_stat("/p").await.unwrap();
    kids2.sort();
    assert_eq!(kids2, kids);
    assert_eq!((stat.num_children, stat.cversion), (3, 3));
    assert_eq!(c.get_children("/nope").await, Err(Error::NoNode));
    assert_eq!(c.get_all_children_number("/p").await.unwrap(), 3);
    c.create("/p/a/deep", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(c.get_all_children_number("/p").await.unwrap(), 4);
}

#[tokio::test]
async fn digest_acls_deny_without_credentials_and_allow_with_them() {
    let zk = apache().await;
    let owner = Client::builder()
        .digest_auth("alice:secret")
        .connect(zk.connect_string())
        .await
        .unwrap();
    assert_eq!(
        digest_id("alice:secret"),
        "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
    );
    let acl = vec![Acl::new(
        perms::ALL,
        Id::new("digest", digest_id("alice:secret")),
    )];
    owner
        .create(
            "/secret",
            b"s",
            &CreateOptions::persistent().with_acl(acl.clone()),
        )
        .await
        .unwrap();
    owner
        .create(
            "/mine",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await
        .unwrap();

    let stranger = client(zk.connect_string()).await;
    assert_eq!(stranger.get_data("/secret").await, Err(Error::NoAuth));
    assert_eq!(
        stranger.set_data("/secret", b"x", None).await,
        Err(Error::NoAuth)
    );
    assert_eq!(stranger.get_data("/mine").await, Err(Error::NoAuth));
    // Without ADMIN the digest is masked, with READ it can still be listed.
    assert_eq!(stranger.get_acl("/secret").await, Err(Error::NoAuth));

    let (got, stat) = owner.get_acl("/secret").await.unwrap();
    assert_eq!(got, acl);
    assert_eq!(stat.aversion, 0);

    stranger.add_auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(&stranger.get_data("/secret").await.unwrap().0[..], b"s");
    let who = stranger.whoami().await.unwrap();
    assert!(
        who.iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
        "{who:?}"
    );
    assert!(who.iter().any(|i| i.auth_scheme == "ip"), "{who:?}");

    assert_eq!(
        owner.set_acl("/secret", &Acl::read_unsafe(), Some(5)).await,
        Err(Error::BadVersion)
    );
    let s = owner
        .set_acl("/secret", &Acl::read_unsafe(), Some(0))
        .await
        .unwrap();
    assert_eq!(s.aversion, 1);
    // The new ACL took ADMIN away from the owner too.
    assert_eq!(
        owner.set_acl("/secret", &acl, None).await,
        Err(Error::NoAuth)
    );
    let anon = client(zk.connect_string()).await;
    assert_eq!(&anon.get_data("/secret").await.unwrap().0[..], b"s");
    assert_eq!(
        anon.set_data("/secret", b"", None).await,
        Err(Error::NoAuth)
    );
}

#[tokio::test]
async fn auth_ids_acl_without_credentials_is_invalid() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let r = c
        .create(
            "/x",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await;
    assert_eq!(r, Err(Error::InvalidAcl));
}

#[tokio::test]
async fn unknown_auth_scheme_fails_the_session() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    assert_eq!(c.add_auth("nosuch", b"x").await, Err(Error::AuthFailed));
    wait_state(&c, zk_client::SessionState::AuthFailed).await;
    assert_eq!(c.exists("/").await, Err(Error::AuthFailed));
    let r = Client::builder()
        .auth("nosuch", b"x".to_vec())
        .connect(zk.connect_string())
        .await;
    assert_eq!(r.err(), Some(Error::AuthFailed));
}

#[tokio::test]
async fn multi_is_atomic_and_reports_the_failing_op() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let results = c
        .multi(&[
            Op::create("/m", "a", CreateOptions::persistent()),
            Op::create("/m/c", "", CreateOptions::persistent()),
            Op::set_data("/m", "b", Some(0)),
            Op::check("/m", 1),
        ])
        .await
        .unwrap();
    assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/m"));
    assert!(matches!(&results[2], OpResult::SetData(s) if s.version == 1));
    assert_eq!(results[3], OpResult::Check);
    // All ops of one multi share one zxid.
    let (_, m) = c.get_data("/m").await.unwrap();
    let (_, mc) = c.get_data("/m/c").await.unwrap();
    assert_eq!(m.czxid, mc.czxid);

    let err = c
        .multi(&[
            Op::create("/m2", "", CreateOptions::persistent()),
            Op::delete("/nonexistent", None),
            Op::create("/m3", "", CreateOptions::persistent()),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::MultiFailed {
            index: 1,
            error: Box::new(Error::NoNode)
        }
    );
    assert_eq!(c.exists("/m2").await.unwrap(), None);
    let err = c.multi(&[Op::check("/m", 7)]).await.unwrap_err();
    assert_eq!(
        err,
        Error::MultiFailed {
            index: 0,
            error: Box::new(Error::BadVersion)
        }
    );
    assert_eq!(c.multi(&[]).await.unwrap(), vec![]);
    let r = c
        .multi(&[Op::delete("/m", None), Op::delete("/m/c", None)])
        .await;
    assert_eq!(r.unwrap_err().code(), Some(ErrorCode::NotEmpty));
}

#[tokio::test]
async fn multi_read_answers_each_op_independently() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/r", b"data", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/r/k", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let results = c
        .multi_read(&[
            ReadOp::GetData("/r".into()),
            ReadOp::GetChildren("/r".into()),
            ReadOp::GetData("/missing".into()),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&results[0], Ok(ReadResult::Data(d, s)) if &d[..] == b"data" && s.num_children == 1)
    );
    assert_eq!(results[1], Ok(ReadResult::Children(vec!["k".into()])));
    assert_eq!(results[2], Err(Error::NoNode));
}

#[tokio::test]
async fn ephemerals_sync_whoami_and_config() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/e1", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    c.create("/dir", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/dir/e2", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let mut all = c.get_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, ["/dir/e2", "/e1"]);
    assert_eq!(c.get_ephemerals("/dir").await.unwrap(), ["/dir/e2"]);
    c.sync("/").await.unwrap();
    let who = c.whoami().await.unwrap();
    assert_eq!(who.len(), 1);
    assert_eq!(
        (who[0].auth_scheme.as_str(), who[0].user.as_str()),
        ("ip", "127.0.0.1")
    );
    let (_config, stat) = c.get_config().await.unwrap();
    assert_eq!(stat.aversion, -1);
}

#[tokio::test]
async fn chroot_applies_to_requests_results_and_events() {
    let zk = apache().await;
    let root = client(zk.connect_string()).await;
    root.create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let c = client(&format!("{}/app", zk.connect_string())).await;
    let (p, _) = c
        .create("/svc", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(p, "/svc");
    assert!(root.exists("/app/svc").await.unwrap().is_some());
    let (seq, _) = c
        .create(
            "/svc/n-",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(seq, "/svc/n-0000000000");
    assert_eq!(c.get_children("/").await.unwrap(), ["svc"]);
    assert_eq!(c.get_ephemerals("/").await.unwrap(), vec![seq.clone()]);
    let results = c
        .multi(&[Op::create("/svc/m", "", CreateOptions::persistent())])
        .await
        .unwrap();
    assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/svc/m"));
    let (_, _, w) = c.get_and_watch_data("/svc").await.unwrap();
    root.set_data("/app/svc", b"y", None).await.unwrap();
    let ev = within("chrooted event", w).await;
    assert_eq!(ev.path, "/svc");
    let (_, _, w) = c.get_and_watch_children("/").await.unwrap();
    root.create("/app/other", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(within("root child event", w).await.path, "/");
}

#[tokio::test]
async fn oversized_request_is_refused_locally_and_the_session_survives() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let big = vec![7u8; 2 * 1024 * 1024];
    let r = c.create("/big", &big, &CreateOptions::persistent()).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let ok = vec![7u8; 1024 * 1024 - 200];
    c.create("/big", &ok, &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(c.get_data("/big").await.unwrap().0.len(), ok.len());
}

#[tokio::test]
async fn pipelined_requests_complete_in_call_order() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/seq", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let seq = CreateOptions::new(CreateMode::PersistentSequential);
    let futures: Vec<_> = (0..200).map(|_| c.create("/seq/n-", b"", &seq)).collect();
    let paths: Vec<String> = futures::future::join_all(futures)
        .await
        .into_iter()
        .map(|r| r.unwrap().0)
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("/seq/n-{i:010}")).collect();
    assert_eq!(paths, expected);
}

#[tokio::test]
async fn server_side_unimplemented_is_a_typed_error() {
    // TTL nodes are off unless the server enables extended types.
    let zk = ApacheZk::options(1)
        .java_opts("-Dzookeeper.extendedTypesEnabled=false")
        .start()
        .await
        .unwrap();
    let c = client(zk.connect_string()).await;
    let ttl = CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(Duration::from_secs(5));
    assert_eq!(c.create("/ttl", b"", &ttl).await, Err(Error::Unimplemented));
}
