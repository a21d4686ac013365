//! Running clients we did not write (zkCli, kazoo, Java programs) and comparing what they
//! print against the two servers.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

/// The directory of the client scripts (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs `program` with `args` (and `stdin`), for at most two minutes; whether it
/// succeeded, and its stdout followed by its stderr.
pub async fn run(program: &str, args: &[String], stdin: Option<&str>) -> (bool, String) {
    run_with_env(program, args, stdin, &[]).await
}

/// [`run`] with extra environment variables.
pub async fn run_with_env(
    program: &str,
    args: &[String],
    stdin: Option<&str>,
    env: &[(&str, String)],
) -> (bool, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("client timed out")
    .expect("client output");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// zkCli output without what differs between runs: times, addresses, banner and logging
/// lines, and where watch events fall among the other lines.
pub fn normalise_cli(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            !(l.starts_with("ctime")
                || l.starts_with("mtime")
                || l.starts_with("Connecting")
                || l.starts_with("SLF4J")
                || l.starts_with("Welcome")
                || l.starts_with("JLine"))
        })
        .map(str::to_owned)
        .collect();
    // zkCli prints watch events from its event thread, interleaved with command output at
    // whatever moment they arrive: compare them as a set, after the commands' output.
    let mut events: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("WatchedEvent"))
        .cloned()
        .collect();
    events.sort();
    lines.retain(|l| !(l.starts_with("WatchedEvent") || l == "WATCHER::" || l.is_empty()));
    lines.push("-- watch events --".to_owned());
    lines.extend(events);
    lines
}

/// Asserts two normalised transcripts are the same, line by line.
pub fn assert_same(what: &str, apache: &[String], bundled: &[String]) {
    let n = apache.len().max(bundled.len());
    let diffs: Vec<String> = (0..n)
        .filter(|&i| apache.get(i) != bundled.get(i))
        .map(|i| {
            format!(
                "line {i}:\n  apache : {:?}\n  bundled: {:?}",
                apache.get(i),
                bundled.get(i)
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}: zk-server differs from Apache:\n{}\n--- apache output:\n{}",
        diffs.join("\n"),
        apache.join("\n")
    );
}
