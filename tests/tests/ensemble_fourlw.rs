//! Four-letter words of ensemble members, zk-server's against Apache ZooKeeper 3.8's, on
//! 3-member ensembles started from the same `zoo.cfg` files: the same `Mode:` lines, the
//! same `srvr` and `conf` layout, and the ensemble's `mntr` keys with the same values.

use std::collections::BTreeMap;
use std::time::Duration;

use zk_testkit::ApacheZk;
use zkmesh_tests::Kind;

async fn ensemble(kind: Kind) -> ApacheZk {
    ApacheZk::options(3)
        .tick_time(Duration::from_millis(500))
        .servers(kind.servers())
        .expect("zk-server binary")
        .start()
        .await
        .expect("a 3-member ensemble")
}

/// `key: value` / `key=value` / `key\tvalue` lines, as (key, value).
fn pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l
                .split_once('\t')
                .or_else(|| l.split_once(": "))
                .or_else(|| l.split_once('='))?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[derive(Debug, PartialEq)]
struct Seen {
    srvr_keys: Vec<String>,
    mode: String,
    conf_keys: Vec<String>,
    ensemble_mntr: BTreeMap<String, String>,
}

async fn look(zk: &ApacheZk, i: usize) -> Seen {
    let srvr = zk.four_letter(i, "srvr").await.expect("srvr");
    let conf = zk.four_letter(i, "conf").await.expect("conf");
    let mntr = zk.four_letter(i, "mntr").await.expect("mntr");
    let srvr = pairs(&srvr);
    // Values that must agree; sizes and times differ by nature.
    let agreeing = [
        "zk_server_state",
        "zk_peer_state",
        "zk_quorum_size",
        "zk_learners",
        "zk_synced_followers",
        "zk_synced_non_voting_followers",
        "zk_synced_observers",
        "zk_pending_syncs",
    ];
    Seen {
        srvr_keys: srvr.iter().map(|(k, _)| k.clone()).collect(),
        mode: srvr
            .iter()
            .find(|(k, _)| k == "Mode")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        conf_keys: pairs(&conf)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !k.starts_with("server."))
            .collect(),
        ensemble_mntr: pairs(&mntr)
            .into_iter()
            .filter(|(k, _)| agreeing.contains(&k.as_str()))
            .collect(),
    }
}

#[tokio::test]
async fn leader_and_follower_report_as_apaches_do() {
    let mut seen = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let zk = ensemble(kind).await;
        let leader = zk.leader_index().await.expect("leader");
        let follower = (leader + 1) % 3;
        let l = look(&zk, leader).await;
        let f = look(&zk, follower).await;
        assert_eq!(l.mode, "leader", "{kind:?}");
        assert_eq!(f.mode, "follower", "{kind:?}");
        assert!(
            l.srvr_keys
                .iter()
                .any(|k| k == "Proposal sizes last/min/max"),
            "{kind:?}: {l:?}"
        );
        seen.push((l, f));
    }
    let (apache, bundled) = (&seen[0], &seen[1]);
    assert_eq!(
        apache.0.srvr_keys, bundled.0.srvr_keys,
        "leader srvr layout"
    );
    assert_eq!(
        apache.1.srvr_keys, bundled.1.srvr_keys,
        "follower srvr layout"
    );
    assert_eq!(
        apache.0.conf_keys, bundled.0.conf_keys,
        "leader conf layout"
    );
    assert_eq!(
        apache.0.ensemble_mntr, bundled.0.ensemble_mntr,
        "leader mntr"
    );
    assert_eq!(
        apache.1.ensemble_mntr, bundled.1.ensemble_mntr,
        "follower mntr"
    );
}
