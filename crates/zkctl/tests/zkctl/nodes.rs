//! Node commands (`ls`, `get`, `set`, `create`, `delete`, `stat`, `watch`, `acl`), the
//! connection options, and the exit codes they end with.

use crate::common::{dead_address, server, zkctl, Running};

#[tokio::test]
async fn ls_lists_children_in_name_order_and_ls_r_the_whole_subtree() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "-p", "/app/b/deep"]).await.ok();
    zkctl(&zk, &["create", "/app/a"]).await.ok();

    let plain = zkctl(&zk, &["ls", "/app"]).await;
    plain.ok();
    assert_eq!(plain.stdout, "a\nb\n");
    assert_eq!(
        zkctl(&zk, &["--json", "ls", "/app"]).await.json(),
        serde_json::json!(["a", "b"])
    );
    // Global options may follow the command too.
    assert_eq!(
        zkctl(&zk, &["ls", "/app", "--json"]).await.json(),
        serde_json::json!(["a", "b"])
    );

    let tree = zkctl(&zk, &["ls", "-R", "/app"]).await;
    tree.ok();
    assert_eq!(tree.stdout, "/app\n/app/a\n/app/b\n/app/b/deep\n");
}

#[tokio::test]
async fn get_prints_the_data_and_json_adds_the_stat() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/n", "hello"]).await.ok();

    let text = zkctl(&zk, &["get", "/n"]).await;
    text.ok();
    assert_eq!(text.stdout, "hello\n");

    let json = zkctl(&zk, &["--json", "get", "/n"]).await;
    json.ok();
    let v = json.json();
    assert_eq!(v["data"], "hello");
    assert_eq!(v["stat"]["version"], 0);
    assert_eq!(v["stat"]["dataLength"], 5);
}

#[tokio::test]
async fn a_missing_node_exits_3_and_json_names_the_kind() {
    let s = server().await;
    let zk = s.connect_string();
    for cmd in [
        vec!["get", "/nope"],
        vec!["ls", "/nope"],
        vec!["stat", "/nope"],
        vec!["set", "/nope", "x"],
        vec!["delete", "/nope"],
        vec!["acl", "get", "/nope"],
        vec!["create", "/nope/child"],
    ] {
        zkctl(&zk, &cmd).await.expect_code(3);
    }
    let run = zkctl(&zk, &["--json", "get", "/nope"]).await;
    run.expect_code(3);
    let err = run.error_json();
    assert_eq!(err["kind"], "not_found");
    assert_eq!(err["exit_code"], 3);
}

#[tokio::test]
async fn set_is_conditional_on_the_version_given() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/n", "v0"]).await.ok();

    let first = zkctl(&zk, &["--json", "set", "/n", "v1", "-v", "0"]).await;
    first.ok();
    assert_eq!(first.json()["stat"]["version"], 1);

    let stale = zkctl(&zk, &["set", "/n", "v2", "--version", "0"]).await;
    stale.expect_code(4);
    assert!(stale.stderr.contains("bad version"), "{stale:?}");
    assert_eq!(zkctl(&zk, &["get", "/n"]).await.stdout, "v1\n");

    zkctl(&zk, &["set", "/n", "v2"]).await.ok();
    assert_eq!(zkctl(&zk, &["get", "/n"]).await.stdout, "v2\n");
}

#[tokio::test]
async fn create_supports_every_mode_and_refuses_what_exists() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/p"]).await.ok();

    let seq = zkctl(&zk, &["--json", "create", "-s", "/p/job-", "x"]).await;
    seq.ok();
    assert_eq!(seq.json()["path"], "/p/job-0000000000");
    assert_eq!(seq.json()["mode"], "PersistentSequential");

    let container = zkctl(&zk, &["--json", "create", "-c", "/c"]).await;
    container.ok();
    assert_eq!(container.json()["mode"], "Container");

    let ttl = zkctl(&zk, &["--json", "create", "--ttl", "60000", "/t"]).await;
    ttl.ok();
    assert_eq!(ttl.json()["mode"], "PersistentWithTtl");

    let eph = zkctl(&zk, &["--json", "create", "-e", "-s", "/p/e-"]).await;
    eph.ok();
    assert_eq!(eph.json()["mode"], "EphemeralSequential");
    assert_ne!(eph.json()["stat"]["ephemeralOwner"], 0);
    // zkctl's session ended with it, and the ephemeral node with the session.
    let path = eph.json()["path"].as_str().expect("path").to_owned();
    zkctl(&zk, &["stat", &path]).await.expect_code(3);

    zkctl(&zk, &["create", "/p"]).await.expect_code(4);
    zkctl(&zk, &["create", "-p", "/x/y/z", "deep"]).await.ok();
    assert_eq!(zkctl(&zk, &["get", "/x/y/z"]).await.stdout, "deep\n");
}

#[tokio::test]
async fn impossible_flag_mixes_and_bad_values_are_usage_errors() {
    let s = server().await;
    let zk = s.connect_string();
    for cmd in [
        vec!["create", "-e", "-c", "/a"],
        vec!["create", "-e", "--ttl", "10", "/a"],
        vec!["create", "-c", "-s", "/a"],
        vec!["create", "--ttl", "0", "/a"],
        vec!["create", "/a", "--acl", "world:anyone:xyz"],
        vec!["delete", "-r", "-v", "1", "/a"],
        vec!["get"],
        vec!["nonsense"],
        vec!["get", "relative/path"],
    ] {
        zkctl(&zk, &cmd).await.expect_code(2);
    }
}

#[tokio::test]
async fn delete_refuses_a_parent_unless_recursive() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "-p", "/d/a/b"]).await.ok();
    zkctl(&zk, &["create", "/d/c", "x"]).await.ok();

    zkctl(&zk, &["delete", "/d"]).await.expect_code(4);
    zkctl(&zk, &["delete", "/d/c", "-v", "7"])
        .await
        .expect_code(4);

    let gone = zkctl(&zk, &["--json", "delete", "-r", "/d"]).await;
    gone.ok();
    assert_eq!(gone.json()["deleted"].as_array().map(Vec::len), Some(4));
    zkctl(&zk, &["stat", "/d"]).await.expect_code(3);
}

#[tokio::test]
async fn stat_prints_versions_and_counts() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "-p", "/s/child", "x"]).await.ok();
    zkctl(&zk, &["set", "/s", "new"]).await.ok();

    let text = zkctl(&zk, &["stat", "/s"]).await;
    text.ok();
    assert!(text.stdout.contains("dataVersion = 1\n"), "{text:?}");
    assert!(text.stdout.contains("numChildren = 1\n"), "{text:?}");

    let json = zkctl(&zk, &["--json", "stat", "/s"]).await;
    assert_eq!(json.json()["stat"]["numChildren"], 1);
    assert_eq!(json.json()["stat"]["dataLength"], 3);
}

#[tokio::test]
async fn acl_set_then_get_round_trips_and_digest_auth_opens_a_locked_node() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/open"]).await.ok();
    zkctl(&zk, &["acl", "set", "/open", "world:anyone:cra"])
        .await
        .ok();
    let got = zkctl(&zk, &["acl", "get", "/open"]).await;
    got.ok();
    assert_eq!(got.stdout, "world:anyone:cra\n");
    // Read but not write: a refused write is "any other failure".
    zkctl(&zk, &["set", "/open", "x"]).await.expect_code(1);

    let alice = zk_client::digest_id("alice:secret");
    let entry = format!("digest:{alice}:cdrwa");
    zkctl(&zk, &["create", "/locked", "secret", "--acl", &entry])
        .await
        .ok();
    zkctl(&zk, &["get", "/locked"]).await.expect_code(1);
    let mine = zkctl(&zk, &["--auth", "alice:secret", "get", "/locked"]).await;
    mine.ok();
    assert_eq!(mine.stdout, "secret\n");

    let json = zkctl(
        &zk,
        &["--auth", "alice:secret", "--json", "acl", "get", "/locked"],
    )
    .await;
    assert_eq!(json.json()["acl"][0]["id"], alice);
    assert_eq!(json.json()["acl"][0]["perms"], "cdrwa");

    zkctl(&zk, &["acl", "set", "/open", "world:anyone:r", "-v", "0"])
        .await
        .expect_code(4);
    zkctl(&zk, &["acl", "set", "/open", "nonsense"])
        .await
        .expect_code(2);
}

#[tokio::test]
async fn chroot_and_zk_hosts_choose_where_commands_run() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/app"]).await.ok();
    zkctl(&zk, &["--chroot", "/app", "create", "/x", "in-app"])
        .await
        .ok();
    assert_eq!(zkctl(&zk, &["get", "/app/x"]).await.stdout, "in-app\n");
    let in_string = zkctl(&format!("{zk}/app"), &["ls", "/"]).await;
    assert_eq!(in_string.stdout, "x\n");

    let mut cmd = crate::common::command();
    cmd.env("ZK_HOSTS", &zk)
        .env("ZK_CHROOT", "/app")
        .args(["get", "/x"]);
    let from_env = crate::common::run(cmd).await;
    from_env.ok();
    assert_eq!(from_env.stdout, "in-app\n");
}

#[tokio::test]
async fn no_reachable_server_exits_5() {
    let dead = dead_address();
    let run = zkctl(&dead, &["--timeout", "1", "--json", "ls", "/"]).await;
    run.expect_code(5);
    assert_eq!(run.error_json()["kind"], "connection");
}

#[tokio::test]
async fn watch_prints_each_event_as_it_happens() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["create", "/w", "0"]).await.ok();

    let mut watch = Running::spawn(&zk, &["watch", "-R", "/w"]);
    assert!(watch.stderr_line().await.starts_with("watching /w"));
    zkctl(&zk, &["set", "/w", "1"]).await.ok();
    assert_eq!(watch.stdout_line().await, "NodeDataChanged /w");
    zkctl(&zk, &["create", "/w/kid"]).await.ok();
    assert_eq!(watch.stdout_line().await, "NodeCreated /w/kid");
    // Ctrl-C ends it, successfully.
    let pid = watch.child.id().expect("running");
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) with a pid this test started; it touches no memory.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "SIGINT sent");
    let status = tokio::time::timeout(crate::common::WAIT, watch.child.wait())
        .await
        .expect("zkctl stops on SIGINT in time")
        .expect("exit status");
    assert_eq!(status.code(), Some(0));

    let mut json = Running::spawn(&zk, &["--json", "watch", "/w"]);
    assert!(json.stderr_line().await.starts_with("watching /w"));
    zkctl(&zk, &["set", "/w", "2"]).await.ok();
    let line = json.stdout_line().await;
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(event["event"], "NodeDataChanged");
    assert_eq!(event["path"], "/w");
    json.child.kill().await.expect("kill");
}

#[tokio::test]
async fn watch_ends_with_exit_5_when_its_session_expires() {
    let s = server().await;
    let zk = s.connect_string();
    let mut watch = Running::spawn(&zk, &["watch", "/w"]);
    let announced = watch.stderr_line().await;
    let session = announced
        .split_whitespace()
        .find_map(|w| w.strip_prefix("0x"))
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("no session id in {announced:?}"));
    assert!(s.expire_session(session).await.expect("server answers"));
    // The server drops the connection first; the client learns of the expiry when it
    // reconnects.
    loop {
        let line = watch.stdout_line().await;
        if line == "session Expired" {
            break;
        }
        assert_eq!(line, "session Disconnected");
    }
    let status = tokio::time::timeout(crate::common::WAIT, watch.child.wait())
        .await
        .expect("zkctl stops in time")
        .expect("exit status");
    assert_eq!(status.code(), Some(5));
}

#[tokio::test]
async fn binary_data_comes_out_unchanged_and_as_hex_in_json() {
    let s = server().await;
    let zk = s.connect_string();
    let client = zk_client::Client::connect(&zk).await.expect("client");
    client
        .create(
            "/bin",
            &[0xff, 0x00, 0x7f],
            &zk_client::CreateOptions::persistent(),
        )
        .await
        .expect("create");
    let mut cmd = crate::common::command();
    cmd.args(["--server", &zk, "get", "/bin"]);
    let raw = cmd.output().await.expect("runs");
    assert_eq!(raw.stdout, [0xff, 0x00, 0x7f, b'\n']);
    let json = zkctl(&zk, &["--json", "get", "/bin"]).await;
    assert_eq!(json.json()["data_hex"], "ff007f");
    assert_eq!(json.json()["data"], serde_json::Value::Null);
}

#[tokio::test]
async fn every_command_has_help_and_the_top_level_help_lists_exit_codes() {
    let top = zkctl("unused:1", &["--help"]).await;
    top.ok();
    assert!(top.stdout.contains("Exit codes:"), "{top:?}");
    assert!(top.stdout.contains("5  connection failure"), "{top:?}");
    for cmd in [
        vec!["ls"],
        vec!["get"],
        vec!["set"],
        vec!["create"],
        vec!["delete"],
        vec!["stat"],
        vec!["watch"],
        vec!["acl"],
        vec!["acl", "get"],
        vec!["acl", "set"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = zkctl("unused:1", &args).await;
        help.ok();
        assert!(help.stdout.contains("Usage: zkctl"), "{cmd:?}: {help:?}");
    }
}
