//! `ensemble`: every member's mode, zxid, connections and lag.

use std::time::Duration;

use zk_server::Ensemble;

use crate::common::{server, zkctl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_ensemble_shows_one_leader_and_lag_behind_it() {
    let mut ensemble = Ensemble::builder().members(3).start().await.expect("start");
    ensemble
        .wait_serving(Duration::from_secs(30))
        .await
        .expect("serving");
    let zk = ensemble.connect_string();
    zkctl(&zk, &["create", "/x", "1"]).await.ok();

    let run = zkctl(&zk, &["--json", "ensemble"]).await;
    run.ok();
    let members = run.json()["members"].as_array().expect("members").clone();
    assert_eq!(members.len(), 3);
    let mut modes: Vec<&str> = members.iter().filter_map(|m| m["mode"].as_str()).collect();
    modes.sort();
    assert_eq!(modes, ["follower", "follower", "leader"]);
    for m in &members {
        assert!(m["zxid"].as_i64().is_some_and(|z| z > 0), "{m}");
        assert!(m["connections"].as_u64().is_some(), "{m}");
        assert!(m["lag"].as_i64().is_some_and(|l| l >= 0), "{m}");
        if m["mode"] == "leader" {
            assert_eq!(m["lag"], 0);
        }
    }

    let text = zkctl(&zk, &["ensemble"]).await;
    text.ok();
    assert!(text.stdout.starts_with("MEMBER "), "{text:?}");
    assert_eq!(text.stdout.matches("follower").count(), 2, "{text:?}");

    // A member that is gone is reported, and the exit code says a member failed.
    let leader = ensemble.leader().await.expect("leader");
    let follower = (leader + 1) % 3;
    ensemble.kill(follower).await;
    let partial = zkctl(&zk, &["--json", "ensemble"]).await;
    partial.expect_code(5);
    let gone = ensemble.client_addr(follower).to_string();
    let members = partial.json()["members"]
        .as_array()
        .expect("members")
        .clone();
    let dead = members
        .iter()
        .find(|m| m["host"] == gone.as_str())
        .expect("listed");
    assert!(dead["error"].is_string(), "{dead}");
    assert_eq!(members.iter().filter(|m| m["error"].is_null()).count(), 2);
    ensemble.shutdown().await;
}

#[tokio::test]
async fn a_standalone_server_is_its_own_reference() {
    let s = server().await;
    let run = zkctl(&s.connect_string(), &["--json", "ensemble"]).await;
    run.ok();
    let m = &run.json()["members"][0];
    assert_eq!(m["mode"], "standalone");
    assert_eq!(m["lag"], 0);
    assert_eq!(m["host"], s.connect_string());

    let dead = crate::common::dead_address();
    zkctl(&dead, &["--timeout", "1", "ensemble"])
        .await
        .expect_code(5);
    zkctl(&dead, &["ensemble", "--help"]).await.ok();
}
