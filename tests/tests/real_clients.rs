//! Clients we did not write, against the bundled server: the Java `zkCli.sh` from the
//! Debian package, Apache Curator's recipes (Debian's `libcurator-recipes-java`) and the
//! Python `kazoo` client. Each runs the same script against Apache
//! ZooKeeper 3.8 and against zk-server; the outputs must match once times, ports and
//! session ids are normalised.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;
use zkmesh_tests::clients::{assert_same, clients_dir, normalise_cli, run};
use zkmesh_tests::{Kind, Server};

#[tokio::test]
async fn zkcli_script_runs_the_same_on_both_servers() {
    let script = std::fs::read_to_string(clients_dir().join("zkcli_script.txt")).expect("script");
    let cli = "/usr/share/zookeeper/bin/zkCli.sh";
    assert!(
        std::path::Path::new(cli).exists(),
        "{cli} missing: run scripts/zk-apache.sh install"
    );
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let server = Server::start(kind).await;
        let (_, text) = run(
            cli,
            &["-server".into(), server.connect_string()],
            Some(&script),
        )
        .await;
        outputs.push(normalise_cli(&text));
    }
    assert!(
        outputs[0].iter().any(|l| l == "Node already exists: /cli")
            && outputs[0]
                .iter()
                .any(|l| l == "Output stat for /q count=3,bytes=2"),
        "zkCli did not run the script:\n{}",
        outputs[0].join("\n")
    );
    assert_same("zkCli", &outputs[0], &outputs[1]);
}

#[tokio::test]
async fn kazoo_scenario_runs_the_same_on_both_servers() {
    kazoo_script_runs_the_same("kazoo_scenario.py", "kazoo scenario: ok").await;
}

#[tokio::test]
async fn kazoo_recipes_run_the_same_on_both_servers() {
    kazoo_script_runs_the_same("kazoo_recipes.py", "kazoo recipes: ok").await;
}

/// Runs a kazoo script from `clients/` against Apache ZooKeeper and zk-server; each run
/// must print `ok_marker`, and both outputs must be the same.
async fn kazoo_script_runs_the_same(name: &str, ok_marker: &str) {
    let (ok, text) = run("python3", &["-c".into(), "import kazoo".into()], None).await;
    assert!(
        ok,
        "kazoo is not installed (pip install kazoo; scripts/test.sh does): {text}"
    );
    let script = clients_dir().join(name).display().to_string();
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let server = Server::start(kind).await;
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(server.connect_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
            .await
            .expect("kazoo timed out")
            .expect("kazoo output");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.contains(ok_marker),
            "{name} failed against {kind:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(stdout.lines().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_same(name, &outputs[0], &outputs[1]);
}

#[tokio::test]
async fn curator_recipes_run_the_same_on_both_servers() {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java/CuratorRecipes.java");
    let classpath = zk_testkit::java::compile(&source, zk_testkit::java::CURATOR_JARS)
        .unwrap_or_else(|e| panic!("javac: {e}"));
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Bundled] {
        let server = Server::start(kind).await;
        let (ok, text) = run(
            "java",
            &[
                "-cp".into(),
                classpath.clone(),
                "CuratorRecipes".into(),
                server.connect_string(),
            ],
            None,
        )
        .await;
        assert!(
            ok && text.contains("curator recipes: ok"),
            "Curator recipes failed against {kind:?}:\n{text}"
        );
        outputs.push(text.lines().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_same("Curator recipes", &outputs[0], &outputs[1]);
}
