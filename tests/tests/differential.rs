//! The same scripted sequences against Apache ZooKeeper 3.8 and zk-server, compared field
//! by field (only times and session ids are normalised away). A line that differs is a
//! place where a real ZooKeeper client could tell the bundled server from Apache's.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use zk_client::{
    digest_id, perms, Acl, AddWatchMode, Client, CreateMode, CreateOptions, Id, Op, ReadOp,
};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::ops::*;
use zk_proto::{OpCode, Request};
use zkmesh_tests::raw::{render, RawConn, Reply};
use zkmesh_tests::{differential, stat, within, Server};

fn show<T: std::fmt::Debug>(label: &str, r: &zk_client::Result<T>) -> String {
    format!("{label}: {r:?}")
}

#[tokio::test]
async fn crud_errors_and_stats() {
    differential("crud", |server: Server| async move {
        let c = server.client().await;
        let me = c.session_id();
        let mut t = Vec::new();
        let p = CreateOptions::persistent();
        let r = c.create("/a", b"1", &p).await;
        t.push(format!(
            "create /a: {:?}",
            r.map(|(path, s)| (path, stat(&s, me)))
        ));
        t.push(show(
            "create /a again",
            &c.create("/a", b"", &p).await.map(|x| x.0),
        ));
        t.push(show(
            "create under missing",
            &c.create("/x/y", b"", &p).await.map(|x| x.0),
        ));
        let r = c.create("/a/b", b"22", &CreateOptions::ephemeral()).await;
        t.push(format!(
            "create eph: {:?}",
            r.map(|(path, s)| (path, stat(&s, me)))
        ));
        t.push(show(
            "child of eph",
            &c.create("/a/b/c", b"", &p).await.map(|x| x.0),
        ));
        let r = c.set_data("/a", b"333", Some(0)).await;
        t.push(format!("set /a: {:?}", r.map(|s| stat(&s, me))));
        t.push(show(
            "set bad version",
            &c.set_data("/a", b"", Some(7)).await.map(drop),
        ));
        t.push(show("delete not empty", &c.delete("/a", None).await));
        t.push(show("delete bad version", &c.delete("/a/b", Some(3)).await));
        t.push(show("delete eph", &c.delete("/a/b", Some(0)).await));
        t.push(show("delete missing", &c.delete("/a/b", None).await));
        t.push(show(
            "delete /zookeeper",
            &c.delete("/zookeeper", None).await,
        ));
        t.push(show(
            "delete /zookeeper/config",
            &c.delete("/zookeeper/config", None).await,
        ));
        t.push(show(
            "delete /zookeeper/quota",
            &c.delete("/zookeeper/quota", None).await,
        ));
        t.push(show(
            "set missing",
            &c.set_data("/nope", b"", None).await.map(drop),
        ));
        for path in [
            "/",
            "/a",
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/quota",
        ] {
            let r = c.get_data(path).await;
            t.push(format!(
                "get {path}: {:?}",
                r.map(|(d, s)| (d, stat(&s, me)))
            ));
            let r = c.get_children_with_stat(path).await;
            t.push(format!(
                "children {path}: {:?}",
                r.map(|(mut k, s)| {
                    k.sort();
                    (k, stat(&s, me))
                })
            ));
            t.push(format!(
                "acl {path}: {:?}",
                c.get_acl(path).await.map(|(a, _)| a)
            ));
        }
        t.push(show(
            "exists missing",
            &c.exists("/nope").await.map(|s| s.is_some()),
        ));
        t.push(show(
            "all children /",
            &c.get_all_children_number("/").await,
        ));
        t.push(show(
            "all children missing",
            &c.get_all_children_number("/nope").await,
        ));
        t.push(show("ephemerals", &c.get_ephemerals("/").await));
        t.push(show("sync", &c.sync("/a").await));
        let r = c.create("/", b"", &p).await;
        t.push(show("create /", &r.map(|x| x.0)));
        c.close().await.unwrap();
        t
    })
    .await;
}

#[tokio::test]
async fn sequential_containers_and_ttl() {
    differential("sequential", |server: Server| async move {
        let c = server.client().await;
        let me = c.session_id();
        let mut t = Vec::new();
        c.create("/q", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        c.create("/q/plain", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        for mode in [
            CreateMode::PersistentSequential,
            CreateMode::EphemeralSequential,
            CreateMode::PersistentSequential,
        ] {
            let r = c.create("/q/n-", b"", &CreateOptions::new(mode)).await;
            t.push(format!("{mode:?}: {:?}", r.map(|(p, s)| (p, stat(&s, me)))));
        }
        c.delete("/q/plain", None).await.unwrap();
        let r = c
            .create(
                "/q/",
                b"",
                &CreateOptions::new(CreateMode::PersistentSequential),
            )
            .await;
        t.push(format!("trailing slash: {:?}", r.map(|x| x.0)));
        let r = c.get_children_with_stat("/q").await;
        t.push(format!(
            "q: {:?}",
            r.map(|(mut k, s)| {
                k.sort();
                (k, stat(&s, me))
            })
        ));
        let r = c
            .create("/box", b"", &CreateOptions::new(CreateMode::Container))
            .await;
        t.push(format!(
            "container: {:?}",
            r.map(|(p, s)| (p, stat(&s, me)))
        ));
        let ttl =
            CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(Duration::from_secs(100));
        let r = c.create("/ttl", b"x", &ttl).await;
        t.push(format!("ttl: {:?}", r.map(|(p, s)| (p, stat(&s, me)))));
        let seq_ttl = CreateOptions::new(CreateMode::PersistentSequentialWithTtl)
            .with_ttl(Duration::from_secs(100));
        let r = c.create("/ttl-", b"x", &seq_ttl).await;
        t.push(format!("seq ttl: {:?}", r.map(|(p, s)| (p, stat(&s, me)))));
        c.create("/box/c", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let (_, w) = c.exists_and_watch("/box").await.unwrap();
        c.delete("/box/c", None).await.unwrap();
        let ev = within("container deletion", w).await;
        t.push(format!("container gone: {:?} {}", ev.event_type, ev.path));
        c.close().await.unwrap();
        t
    })
    .await;
}

#[tokio::test]
async fn acls_and_auth() {
    differential("acls", |server: Server| async move {
        let mut t = Vec::new();
        let owner = Client::builder()
            .digest_auth("alice:secret")
            .connect(&server.connect_string())
            .await
            .unwrap();
        let anon = server.client().await;
        let p = CreateOptions::persistent();
        let alice = Acl::new(perms::ALL, Id::new("digest", digest_id("alice:secret")));
        let read_only_for_all = vec![alice.clone(), Acl::new(perms::READ, Id::anyone())];
        t.push(show(
            "create mine",
            &owner
                .create("/mine", b"m", &p.clone().with_acl(Acl::creator_all()))
                .await
                .map(|x| x.0),
        ));
        t.push(show(
            "create shared",
            &owner
                .create("/shared", b"s", &p.clone().with_acl(read_only_for_all))
                .await
                .map(|x| x.0),
        ));
        t.push(show(
            "auth acl without auth",
            &anon
                .create("/x", b"", &p.clone().with_acl(Acl::creator_all()))
                .await
                .map(|x| x.0),
        ));
        let bad = vec![Acl::new(perms::ALL, Id::new("digest", "nocolon"))];
        t.push(show(
            "bad digest id",
            &anon
                .create("/x", b"", &p.clone().with_acl(bad))
                .await
                .map(|x| x.0),
        ));
        let bad_ip = vec![Acl::new(perms::ALL, Id::new("ip", "300.1.1.1"))];
        t.push(show(
            "bad ip",
            &anon
                .create("/x", b"", &p.clone().with_acl(bad_ip))
                .await
                .map(|x| x.0),
        ));
        let world_other = vec![Acl::new(perms::ALL, Id::new("world", "somebody"))];
        t.push(show(
            "bad world id",
            &anon
                .create("/x", b"", &p.clone().with_acl(world_other))
                .await
                .map(|x| x.0),
        ));
        let ip = vec![Acl::new(perms::READ, Id::new("ip", "127.0.0.0/8"))];
        t.push(show(
            "ip acl",
            &owner
                .create("/local", b"l", &p.clone().with_acl(ip))
                .await
                .map(|x| x.0),
        ));
        t.push(show(
            "anon get mine",
            &anon.get_data("/mine").await.map(|x| x.0),
        ));
        t.push(show(
            "anon get shared",
            &anon.get_data("/shared").await.map(|x| x.0),
        ));
        t.push(show(
            "anon set shared",
            &anon.set_data("/shared", b"", None).await.map(drop),
        ));
        t.push(show(
            "anon get local",
            &anon.get_data("/local").await.map(|x| x.0),
        ));
        t.push(show(
            "anon acl mine",
            &anon.get_acl("/mine").await.map(|x| x.0),
        ));
        t.push(show(
            "anon acl shared (masked)",
            &anon.get_acl("/shared").await.map(|x| x.0),
        ));
        t.push(show(
            "owner acl shared",
            &owner.get_acl("/shared").await.map(|x| x.0),
        ));
        t.push(show(
            "anon create under mine",
            &anon.create("/mine/c", b"", &p).await.map(|x| x.0),
        ));
        t.push(show(
            "anon delete under mine",
            &anon.delete("/mine/c", None).await,
        ));
        t.push(show(
            "anon exists mine",
            &anon.exists("/mine").await.map(|s| s.is_some()),
        ));
        t.push(show(
            "anon children mine",
            &anon.get_children("/mine").await,
        ));
        t.push(show(
            "setacl bad version",
            &owner
                .set_acl("/mine", &Acl::open_unsafe(), Some(4))
                .await
                .map(drop),
        ));
        t.push(show(
            "setacl empty",
            &owner.set_acl("/mine", &[], None).await.map(drop),
        ));
        let r = owner.set_acl("/mine", &Acl::read_unsafe(), Some(0)).await;
        t.push(format!("setacl: {:?}", r.map(|s| stat(&s, 0))));
        t.push(show(
            "owner lost admin",
            &owner
                .set_acl("/mine", &Acl::open_unsafe(), None)
                .await
                .map(drop),
        ));
        t.push(show(
            "anon multi read",
            &anon
                .multi_read(&[
                    ReadOp::GetData("/shared".into()),
                    ReadOp::GetData("/local".into()),
                ])
                .await
                .map(|v| v.len()),
        ));
        anon.add_auth("digest", b"alice:secret").await.unwrap();
        t.push(show(
            "anon now alice",
            &anon.get_acl("/shared").await.map(|x| x.0),
        ));
        // In the server's order (Apache's: a hash set's), not sorted.
        let who = anon.whoami().await.unwrap();
        t.push(format!("whoami: {who:?}"));
        for (user, password) in [("bob", "pw"), ("carol", "x"), ("dave", "longer-password")] {
            anon.add_auth("digest", format!("{user}:{password}").as_bytes())
                .await
                .unwrap();
            let who = anon.whoami().await.unwrap();
            t.push(format!("whoami after {user}: {who:?}"));
        }
        t
    })
    .await;
}

#[tokio::test]
async fn multi_layouts() {
    differential("multi", |server: Server| async move {
        let c = server.client().await;
        let mut t = Vec::new();
        let p = CreateOptions::persistent();
        let r = c
            .multi(&[
                Op::create("/m", "a", p.clone()),
                Op::create("/m/c", "", p.clone()),
                Op::set_data("/m", "b", Some(0)),
                Op::check("/m", 1),
                Op::create(
                    "/m/s-",
                    "",
                    CreateOptions::new(CreateMode::PersistentSequential),
                ),
                Op::delete("/m/c", None),
            ])
            .await;
        t.push(format!(
            "multi ok: {:?}",
            r.map(|v| v
                .into_iter()
                .map(|x| match x {
                    zk_client::OpResult::Create { path, .. } => format!("create {path}"),
                    zk_client::OpResult::SetData(s) => format!("set {}", stat(&s, 0)),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>())
        ));
        t.push(show(
            "multi fails at 1",
            &c.multi(&[
                Op::create("/m2", "", p.clone()),
                Op::delete("/none", None),
                Op::create("/m3", "", p.clone()),
            ])
            .await,
        ));
        t.push(show(
            "m2 rolled back",
            &c.exists("/m2").await.map(|s| s.is_some()),
        ));
        t.push(show("check fails", &c.multi(&[Op::check("/m", 0)]).await));
        t.push(show("empty multi", &c.multi(&[]).await));
        t.push(show(
            "m stat after empty",
            &c.exists("/m").await.map(|s| s.map(|s| stat(&s, 0))),
        ));
        t.push(show(
            "not empty in multi",
            &c.multi(&[Op::delete("/m", None)]).await,
        ));
        t.push(show(
            "multi read",
            &c.multi_read(&[
                ReadOp::GetData("/m".into()),
                ReadOp::GetChildren("/m".into()),
                ReadOp::GetData("/none".into()),
            ])
            .await
            .map(|v| {
                v.into_iter()
                    .map(|r| match r {
                        Ok(zk_client::ReadResult::Data(d, s)) => {
                            format!("data {:?} {}", d, stat(&s, 0))
                        }
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
            }),
        ));
        // Raw layouts: mixing reads and writes, and reads in multi.
        let mut raw = RawConn::connect(server.addr()).await;
        let get = MultiOp::GetData(PathWatchRequest {
            path: "/m".into(),
            watch: false,
        });
        let set = MultiOp::SetData(SetDataRequest {
            path: "/m".into(),
            data: Some(Bytes::from_static(b"x")),
            version: -1,
        });
        for (label, req) in [
            (
                "mixed multi",
                Request::Multi(MultiRequest {
                    ops: vec![get.clone(), set.clone()],
                }),
            ),
            (
                "reads in multi",
                Request::Multi(MultiRequest {
                    ops: vec![get.clone()],
                }),
            ),
            (
                "writes in multiRead",
                Request::MultiRead(MultiRequest {
                    ops: vec![set.clone()],
                }),
            ),
            ("raw empty multi", Request::Multi(MultiRequest::default())),
        ] {
            let r = raw.call(&req).await;
            t.push(format!("{label}: {}", render(&r)));
        }
        t
    })
    .await;
}

#[tokio::test]
async fn invalid_requests_get_apaches_answers() {
    differential("invalid", |server: Server| async move {
        let mut raw = RawConn::connect(server.addr()).await;
        let mut t = Vec::new();
        let create = |path: &str, flags: i32| {
            Request::Create2(CreateRequest {
                path: path.into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags,
            })
        };
        raw.call(&create("/p", 0)).await;
        let cases: Vec<(&str, Request)> = vec![
            ("no slash", create("noslash", 0)),
            ("trailing slash", create("/p/", 0)),
            ("double slash", create("/p//c", 0)),
            ("dot", create("/p/./c", 0)),
            ("dot in existing parent", create("/p/.", 0)),
            ("control char", create("/p/a\u{1}", 0)),
            ("private use", create("/p/\u{f8ff}", 0)),
            ("nul", create("/p/a\0b", 0)),
            ("flags 7", create("/p/f", 7)),
            ("flags -1", create("/p/f", -1)),
            ("ttl mode via create2", create("/p/t", 5)),
            ("container mode via create2", create("/p/cont", 4)),
            ("root", create("/", 0)),
            ("empty path", create("", 0)),
            ("sequential trailing", create("/p/", 2)),
            (
                "ttl 0",
                Request::CreateTtl(CreateTtlRequest {
                    path: "/p/t0".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: 5,
                    ttl: 0,
                }),
            ),
            (
                "ttl too big",
                Request::CreateTtl(CreateTtlRequest {
                    path: "/p/tb".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: 5,
                    ttl: 1 << 41,
                }),
            ),
            (
                "ttl ok",
                Request::CreateTtl(CreateTtlRequest {
                    path: "/p/tok".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: 6,
                    ttl: 1000,
                }),
            ),
            (
                "empty acl",
                Request::Create(CreateRequest {
                    path: "/p/e".into(),
                    data: None,
                    acl: vec![],
                    flags: 0,
                }),
            ),
            (
                "delete root",
                Request::Delete(DeleteRequest {
                    path: "/".into(),
                    version: -1,
                }),
            ),
            (
                "delete no slash",
                Request::Delete(DeleteRequest {
                    path: "x".into(),
                    version: -1,
                }),
            ),
            (
                "delete trailing",
                Request::Delete(DeleteRequest {
                    path: "/p/".into(),
                    version: -1,
                }),
            ),
            (
                "set invalid",
                Request::SetData(SetDataRequest {
                    path: "/p/".into(),
                    data: None,
                    version: -1,
                }),
            ),
            (
                "setacl invalid acl on missing",
                Request::SetAcl(SetAclRequest {
                    path: "/missing".into(),
                    acl: vec![],
                    version: -1,
                }),
            ),
            (
                "exists nul",
                Request::Exists(PathWatchRequest {
                    path: "/a\0".into(),
                    watch: false,
                }),
            ),
            (
                "exists invalid",
                Request::Exists(PathWatchRequest {
                    path: "noslash".into(),
                    watch: false,
                }),
            ),
            (
                "get invalid",
                Request::GetData(PathWatchRequest {
                    path: "noslash".into(),
                    watch: false,
                }),
            ),
            (
                "get empty (root alias)",
                Request::GetData(PathWatchRequest {
                    path: "".into(),
                    watch: false,
                }),
            ),
            (
                "children invalid",
                Request::GetChildren2(PathWatchRequest {
                    path: "/p/".into(),
                    watch: false,
                }),
            ),
            (
                "acl invalid",
                Request::GetAcl(PathRequest { path: "//".into() }),
            ),
            (
                "sync invalid",
                Request::Sync(PathRequest {
                    path: "noslash".into(),
                }),
            ),
            (
                "count invalid",
                Request::GetAllChildrenNumber(PathRequest { path: "x".into() }),
            ),
            (
                "add watch missing",
                Request::AddWatch(AddWatchRequest {
                    path: "/nowhere".into(),
                    mode: 1,
                }),
            ),
            (
                "check watch",
                Request::CheckWatches(WatchesRequest {
                    path: "/nowhere".into(),
                    watcher_type: 3,
                }),
            ),
            (
                "remove watch",
                Request::RemoveWatches(WatchesRequest {
                    path: "/nowhere".into(),
                    watcher_type: 1,
                }),
            ),
            (
                "remove watch again",
                Request::RemoveWatches(WatchesRequest {
                    path: "/nowhere".into(),
                    watcher_type: 3,
                }),
            ),
            (
                "reconfig",
                Request::Reconfig(ReconfigRequest {
                    joining_servers: String::new(),
                    leaving_servers: String::new(),
                    new_members: String::new(),
                    cur_config_id: -1,
                }),
            ),
            (
                "delete container via client",
                Request::DeleteContainer(DeleteContainerRequest {
                    path: "/p/tok".into(),
                }),
            ),
        ];
        for (label, req) in cases {
            let r = raw.call(&req).await;
            t.push(format!("{label}: {}", render(&r)));
        }
        // A truncated body: MARSHALLINGERROR, the connection stays usable.
        raw.send_raw(100, OpCode::Create.code(), &[0, 0, 0, 9, b'/'])
            .await;
        t.push(format!(
            "truncated create: {}",
            render(&raw.next(OpCode::Create).await)
        ));
        raw.send_raw(101, OpCode::GetData.code(), &[0, 0]).await;
        t.push(format!(
            "truncated get: {}",
            render(&raw.next(OpCode::GetData).await)
        ));
        let r = raw
            .call(&Request::Exists(PathWatchRequest {
                path: "/p".into(),
                watch: false,
            }))
            .await;
        t.push(format!("still usable: {}", render(&r)));
        // An unknown opcode: UNIMPLEMENTED with zxid -1, then the connection is closed.
        raw.send_raw(102, 55, &[]).await;
        t.push(format!(
            "opcode 55: {}",
            render(&raw.next(OpCode::GetData).await)
        ));
        t.push(format!(
            "after: {}",
            render(&raw.next(OpCode::GetData).await)
        ));
        // An unknown auth scheme: AUTHFAILED, then closed.
        let mut raw = RawConn::connect(server.addr()).await;
        raw.send_raw(-4, OpCode::Auth.code(), &{
            let mut b = Vec::new();
            zk_proto::Encode::encode(
                &AuthPacket {
                    auth_type: 0,
                    scheme: "nosuch".into(),
                    auth: Some(Bytes::from_static(b"x")),
                },
                &mut b,
            );
            b
        })
        .await;
        t.push(format!(
            "bad auth: {}",
            render(&raw.next(OpCode::Auth).await)
        ));
        t.push(format!(
            "after bad auth: {}",
            render(&raw.next(OpCode::Auth).await)
        ));
        t
    })
    .await;
}

#[tokio::test]
async fn watch_events_and_set_watches_catch_up() {
    differential("watches", |server: Server| async move {
        let mut t = Vec::new();
        let w = server.client().await;
        let c = server.client().await;
        let p = CreateOptions::persistent();
        let mut recursive = w
            .add_watch("/r", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        let mut persistent = w.add_watch("/r", AddWatchMode::Persistent).await.unwrap();
        c.create("/r", b"", &p).await.unwrap();
        let (_, _, data_w) = w.get_and_watch_data("/r").await.unwrap();
        let (_, _, child_w) = w.get_and_watch_children("/r").await.unwrap();
        let (_, exists_w) = w.exists_and_watch("/r/a").await.unwrap();
        c.create("/r/a", b"", &p).await.unwrap();
        c.set_data("/r/a", b"1", None).await.unwrap();
        c.set_data("/r", b"1", None).await.unwrap();
        c.multi(&[
            Op::create("/r/b", "", p.clone()),
            Op::set_data("/r/b", "x", None),
            Op::delete("/r/a", None),
        ])
        .await
        .unwrap();
        c.delete("/r/b", None).await.unwrap();
        c.delete("/r", None).await.unwrap();
        for (label, ev) in [
            ("data", within("data", data_w).await),
            ("child", within("child", child_w).await),
            ("exists", within("exists", exists_w).await),
        ] {
            t.push(format!("{label}: {:?} {}", ev.event_type, ev.path));
        }
        // recursive and persistent streams (the two watches share the path; on 3.8 the
        // later addWatch replaced the earlier server-side mode, so compare what arrives).
        let drain = |label: &str, stream: &mut zk_client::PersistentWatcher| {
            let mut lines = Vec::new();
            while let Some(Some(ev)) = futures::FutureExt::now_or_never(stream.next()) {
                let ev = ev.expect("a handful of events fit the watch queue");
                lines.push(format!("{label}: {:?} {}", ev.event_type, ev.path));
            }
            lines
        };
        // Make sure every event has arrived: a round trip after the last write.
        w.sync("/").await.unwrap();
        t.extend(drain("recursive", &mut recursive));
        t.extend(drain("persistent", &mut persistent));

        // SetWatches catch-up over a raw connection.
        c.create("/sw", b"", &p).await.unwrap();
        let zxid_before = c.exists("/sw").await.unwrap().unwrap().mzxid;
        c.set_data("/sw", b"changed", None).await.unwrap();
        c.create("/kids", b"", &p).await.unwrap();
        let mut raw = RawConn::connect(server.addr()).await;
        let sw = Request::SetWatches(SetWatches {
            relative_zxid: zxid_before,
            data_watches: vec!["/sw".into(), "/gone".into(), "/kids".into()],
            exist_watches: vec!["/sw".into(), "/notyet".into()],
            child_watches: vec!["/kids".into(), "/gone2".into()],
        });
        raw.send(&sw).await;
        loop {
            let r = raw.next(OpCode::SetWatches).await;
            t.push(format!("setWatches: {}", render(&r)));
            if !matches!(r, Reply::Event(_)) {
                break;
            }
        }
        c.create("/notyet", b"", &p).await.unwrap();
        t.push(format!(
            "later: {}",
            render(&raw.next(OpCode::SetWatches).await)
        ));
        t
    })
    .await;
}

#[tokio::test]
async fn session_close_and_expiry_remove_ephemerals() {
    differential("sessions", |server: Server| async move {
        let mut t = Vec::new();
        let observer = server.client().await;
        let doomed = server.client().await;
        doomed
            .create("/e1", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        doomed
            .create("/e2", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        let (_, w1) = observer.exists_and_watch("/e1").await.unwrap();
        let (_, _, root_w) = observer.get_and_watch_children("/").await.unwrap();
        // Close through a second connection that takes the session over.
        let thief = Client::builder()
            .session(doomed.session_id(), doomed.session_password())
            .connect(&server.connect_string())
            .await
            .unwrap();
        thief.close().await.unwrap();
        let ev = within("e1 deleted", w1).await;
        t.push(format!("e1: {:?}", ev.event_type));
        let ev = within("root children", root_w).await;
        t.push(format!("root: {:?} {}", ev.event_type, ev.path));
        t.push(show(
            "e2 gone",
            &observer.exists("/e2").await.map(|s| s.is_some()),
        ));
        let again = Client::builder()
            .session(doomed.session_id(), doomed.session_password())
            .connect(&server.connect_string())
            .await;
        t.push(show("resume closed session", &again.map(drop)));
        let wrong = Client::builder()
            .session(observer.session_id(), vec![9u8; 16])
            .connect(&server.connect_string())
            .await;
        t.push(show("wrong password", &wrong.map(drop)));
        // The wrong-password attempt kicked the observer's connection; it re-attaches.
        t.push(show(
            "observer still works",
            &observer.exists("/").await.map(|s| s.is_some()),
        ));
        t
    })
    .await;
}

#[tokio::test]
async fn edge_cases_of_opcodes_auth_watch_enums_and_acls() {
    differential("edge cases", |server: Server| async move {
        let mut raw = RawConn::connect(server.addr()).await;
        let mut t = Vec::new();
        let create = |opcode: OpCode, path: &str, flags: i32| {
            let r = CreateRequest {
                path: path.into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags,
            };
            match opcode {
                OpCode::CreateContainer => Request::CreateContainer(r),
                _ => Request::Create2(r),
            }
        };
        raw.call(&create(OpCode::Create2, "/e", 0)).await;
        for (label, req) in [
            (
                "container opcode, flags 0",
                create(OpCode::CreateContainer, "/e/c0", 0),
            ),
            (
                "container opcode, flags 2",
                create(OpCode::CreateContainer, "/e/c2-", 2),
            ),
        ] {
            t.push(format!("{label}: {}", render(&raw.call(&req).await)));
        }
        let multi = |ops: Vec<MultiOp>| Request::Multi(MultiRequest { ops });
        let mreq = |path: &str, flags: i32| CreateRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags,
        };
        for (label, req) in [
            (
                "multi create flags 4",
                multi(vec![MultiOp::Create {
                    opcode: OpCode::Create,
                    request: mreq("/e/mc", 4),
                }]),
            ),
            (
                "multi container op flags 0",
                multi(vec![MultiOp::Create {
                    opcode: OpCode::CreateContainer,
                    request: mreq("/e/mp", 0),
                }]),
            ),
        ] {
            t.push(format!("{label}: {}", render(&raw.call(&req).await)));
        }
        for (label, req) in [
            (
                "addWatch mode 7",
                Request::AddWatch(AddWatchRequest {
                    path: "/e".into(),
                    mode: 7,
                }),
            ),
            (
                "checkWatches type 0",
                Request::CheckWatches(WatchesRequest {
                    path: "/e".into(),
                    watcher_type: 0,
                }),
            ),
            (
                "removeWatches type 4",
                Request::RemoveWatches(WatchesRequest {
                    path: "/e".into(),
                    watcher_type: 4,
                }),
            ),
            (
                "count of \"\"",
                Request::GetAllChildrenNumber(PathRequest { path: "".into() }),
            ),
            (
                "ephemerals of \" / \"",
                Request::GetEphemerals(PathRequest { path: " / ".into() }),
            ),
            (
                "sasl",
                Request::Sasl(SaslPacket {
                    token: Some(Bytes::from_static(b"x")),
                }),
            ),
        ] {
            t.push(format!("{label}: {}", render(&raw.call(&req).await)));
        }
        // ACL ids as Java parses them, and duplicates after `auth` expansion.
        let c = Client::builder()
            .digest_auth("alice:secret")
            .connect(&server.connect_string())
            .await
            .unwrap();
        let alice = Acl::new(perms::ALL, Id::new("digest", digest_id("alice:secret")));
        for (label, acl) in [
            (
                "leading zeros",
                vec![Acl::new(perms::ALL, Id::new("ip", "127.000.000.001"))],
            ),
            (
                "octal-looking",
                vec![Acl::new(perms::ALL, Id::new("ip", "010.0.0.1/8"))],
            ),
            (
                "auth plus its digest",
                vec![Acl::creator_all()[0].clone(), alice.clone()],
            ),
        ] {
            let path = format!("/e/acl-{}", label.replace(' ', "-"));
            let r = c
                .create(&path, b"", &CreateOptions::persistent().with_acl(acl))
                .await;
            t.push(format!(
                "{label}: {:?} {:?}",
                r.map(|x| x.0),
                c.get_acl(&path).await.map(|x| x.0)
            ));
        }
        // Auth packets: a null credential fails and closes; a truncated packet closes.
        let mut a = RawConn::connect(server.addr()).await;
        let mut body = Vec::new();
        zk_proto::Encode::encode(
            &AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: None,
            },
            &mut body,
        );
        a.send_raw(-4, OpCode::Auth.code(), &body).await;
        t.push(format!(
            "null digest: {}",
            render(&a.next(OpCode::Auth).await)
        ));
        t.push(format!("then: {}", render(&a.next(OpCode::Auth).await)));
        let mut b = RawConn::connect(server.addr()).await;
        b.send_raw(-4, OpCode::Auth.code(), &[0, 0, 0, 0, 0, 0, 0, 9, b'd'])
            .await;
        t.push(format!(
            "truncated auth: {}",
            render(&b.next(OpCode::Auth).await)
        ));
        t
    })
    .await;
}
