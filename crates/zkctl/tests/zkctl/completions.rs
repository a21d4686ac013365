//! `completions`: scripts for the usual shells, without a server.

use crate::common::zkctl;

#[tokio::test]
async fn completions_are_generated_for_bash_zsh_and_fish() {
    let unused = "127.0.0.1:1";
    let bash = zkctl(unused, &["completions", "bash"]).await;
    bash.ok();
    assert!(bash.stdout.contains("complete -F _zkctl"), "{bash:?}");
    assert!(bash.stdout.contains("routes"), "subcommands are completed");

    let zsh = zkctl(unused, &["completions", "zsh"]).await;
    zsh.ok();
    assert!(zsh.stdout.starts_with("#compdef zkctl"), "{zsh:?}");

    let fish = zkctl(unused, &["completions", "fish"]).await;
    fish.ok();
    assert!(fish.stdout.contains("complete -c zkctl"), "{fish:?}");

    zkctl(unused, &["completions", "tcsh"]).await.expect_code(2);
    zkctl(unused, &["completions", "--help"]).await.ok();
}
