//! `console` in a real browser: headless Chromium (Debian's, through chromedriver) drives
//! the page against bundled servers, as an operator would. Each test leaves screenshots
//! of what it saw in `target/console-screenshots/` (or `$ZK_SCREENSHOT_DIR`) for a person
//! to look at.

use std::future::Future;
use std::time::Duration;

use zk_client::{Client, CreateOptions};
use zk_server::Ensemble;
use zk_testkit::browser::fantoccini::Locator;
use zk_testkit::Browser;

use crate::common::{register, server};
use crate::console::Console;

/// How long a page may take to show a change pushed to it (the issue's "within a
/// second"), and anything slower (a page load, a check round trip).
const LIVE: Duration = Duration::from_secs(1);
const SLOW: Duration = Duration::from_secs(15);

async fn browser() -> Browser {
    Browser::start()
        .await
        .expect("headless Chromium (scripts/test.sh installs it)")
}

/// Waits until `check` holds, asking again every 50 ms, for at most `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fails if the page reported a fault of its own (a script error, or something the
/// content security policy blocked), then closes the browser.
async fn finish(b: Browser) {
    let faults = b
        .client()
        .find_all(Locator::Css("#fault"))
        .await
        .expect("query");
    if let Some(fault) = faults.first() {
        panic!("{}", fault.text().await.unwrap_or_default());
    }
    b.close().await.expect("close the browser");
}

async fn save_enabled(b: &Browser) -> bool {
    match b.client().find(Locator::Css("#rule-save")).await {
        Ok(button) => button.is_enabled().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// Replaces the editor's text as a person would: select all, type.
async fn type_rule(b: &Browser, text: &str) {
    let editor = b
        .client()
        .find(Locator::Css("#rule-editor"))
        .await
        .expect("the editor");
    editor.clear().await.expect("clear the editor");
    editor.send_keys(text).await.expect("type into the editor");
}

#[tokio::test]
async fn the_services_page_shows_a_new_instance_within_a_second_and_drops_a_stopped_one() {
    let s = server().await;
    let zk = s.connect_string();
    let _orders = register(&zk, "orders", &[("orders-1", "1.0")]).await;
    let console = Console::start(&zk, &[]).await;
    let b = browser().await;
    b.goto(&format!("{}/#/services", console.url()))
        .await
        .expect("open");
    b.wait_for_text("#services", "orders-1", SLOW)
        .await
        .expect("the first instance");
    b.wait_for_text("#services-status", "live", SLOW)
        .await
        .expect("the stream is open");

    let (leaving, _registration) = register(&zk, "payments", &[("payments-7", "2.0")]).await;
    b.wait_for_text("#services", "payments-7", LIVE)
        .await
        .expect("shown within a second");
    b.screenshot("services").await.expect("screenshot");

    // Its process goes away: the session ends and the instance with it.
    leaving
        .close()
        .await
        .expect("close the registering session");
    b.wait_until_gone("#services", "payments-7", LIVE)
        .await
        .expect("dropped within a second");
    assert!(b
        .text("#services")
        .await
        .expect("text")
        .contains("orders-1"));
    finish(b).await;
}

#[tokio::test]
async fn the_rule_editor_refuses_invalid_rules_saves_valid_ones_and_never_overwrites_a_concurrent_edit(
) {
    let s = server().await;
    let zk = s.connect_string();
    let (discovery, _live) = register(&zk, "orders", &[("v1", "1.0"), ("v2", "2.0")]).await;
    let router = zk_router::Router::watch(&discovery, "orders", None)
        .await
        .expect("router");
    let mut rule_events = router.events();
    let console = Console::start(&zk, &["--allow-writes"]).await;
    let b = browser().await;
    b.goto(&format!("{}/#/routes/orders", console.url()))
        .await
        .expect("open");
    b.wait_for_text("#rule-version", "no rule yet", SLOW)
        .await
        .expect("the empty rule");

    type_rule(&b, r#"{"routes": [{"destinations": [{"weight": 0}]}]}"#).await;
    b.wait_for_text("#rule-check", "routes[0].destinations[0].weight", SLOW)
        .await
        .expect("the field error");
    assert!(!save_enabled(&b).await, "an invalid rule cannot be saved");
    b.screenshot("routes-invalid").await.expect("screenshot");

    type_rule(
        &b,
        r#"{"routes": [{"name": "all-v2", "destinations": [{"subset": {"version": "2.0"}}]}]}"#,
    )
    .await;
    b.wait_for_text("#rule-check", "The rule is valid.", SLOW)
        .await
        .expect("valid");
    b.wait_for_text("#rule-split", "v2", SLOW)
        .await
        .expect("the split names the instance");
    eventually("the save button is enabled", SLOW, || save_enabled(&b)).await;
    b.click("#rule-save").await.expect("save");
    b.wait_for_text("#rule-status", "Saved: version 0", SLOW)
        .await
        .expect("saved");

    // The router in this process follows the saved rule.
    tokio::time::timeout(SLOW, async {
        while rule_events.recv().await != Ok(zk_router::RouterEvent::RuleLoaded) {}
    })
    .await
    .expect("the router loads the rule");
    let picked = router
        .route(&zk_router::RequestContext::default())
        .expect("a pick");
    assert_eq!(picked.id, "v2");

    // Try a request with the stored rule.
    b.click("#try-run").await.expect("route it");
    b.wait_for_text("#try-result", "all-v2", SLOW)
        .await
        .expect("the route taken");
    b.screenshot("routes").await.expect("screenshot");

    // Someone else saves meanwhile; the page still holds version 0.
    let other = Client::connect(&zk).await.expect("client");
    let theirs =
        r#"{"routes": [{"name": "theirs", "destinations": [{"subset": {"version": "1.0"}}]}]}"#;
    other
        .set_data("/routes/orders", theirs.as_bytes(), Some(0))
        .await
        .expect("their save");
    type_rule(
        &b,
        r#"{"routes": [{"name": "mine", "destinations": [{}]}]}"#,
    )
    .await;
    eventually("the save button is enabled", SLOW, || save_enabled(&b)).await;
    b.click("#rule-save").await.expect("save");
    b.wait_for_text("#rule-status", "someone else changed the rule", SLOW)
        .await
        .expect("refused");
    let (stored, _) = other.get_data("/routes/orders").await.expect("read");
    assert_eq!(
        &stored[..],
        theirs.as_bytes(),
        "their rule is not overwritten"
    );
    finish(b).await;
}

#[tokio::test]
async fn node_data_is_shown_as_text_never_as_markup() {
    let s = server().await;
    let zk = s.connect_string();
    let client = Client::connect(&zk).await.expect("client");
    client
        .create("/app", b"{\"a\": 1}", &CreateOptions::persistent())
        .await
        .expect("create");
    let evil =
        r#"<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">"#;
    client
        .create("/app/evil", evil.as_bytes(), &CreateOptions::persistent())
        .await
        .expect("create");
    let console = Console::start(&zk, &[]).await;
    let b = browser().await;

    b.goto(&format!("{}/#/tree?path=/app", console.url()))
        .await
        .expect("open");
    b.wait_for_text("#tree-children", "evil", SLOW)
        .await
        .expect("the child");
    b.wait_for_text("#node-data", "\"a\": 1", SLOW)
        .await
        .expect("JSON data, formatted");
    b.screenshot("tree").await.expect("screenshot");

    b.click("#tree-children a").await.expect("open the child");
    b.wait_for_text(
        "#node-data",
        "<script>document.title='pwned'</script>",
        SLOW,
    )
    .await
    .expect("the markup shown as text");
    let title = b.client().title().await.expect("title");
    assert_eq!(title, "zkmesh console", "nothing from the node ran");
    let injected = b
        .client()
        .find_all(Locator::Css("#node-data img, #node-data script"))
        .await
        .expect("query");
    assert!(injected.is_empty(), "no element was made from the data");
    b.screenshot("tree-markup-as-text")
        .await
        .expect("screenshot");
    finish(b).await;
}

#[tokio::test]
async fn the_ensemble_page_shows_each_member_and_a_killed_one_as_down() {
    let mut ensemble = Ensemble::builder()
        .members(3)
        .start()
        .await
        .expect("ensemble");
    ensemble.wait_serving(SLOW).await.expect("serving");
    let console = Console::start(&ensemble.connect_string(), &[]).await;
    let b = browser().await;
    b.goto(&format!("{}/#/ensemble", console.url()))
        .await
        .expect("open");
    b.wait_for_text("#ensemble", "leader", SLOW)
        .await
        .expect("a leader");
    b.wait_for_text("#ensemble", "follower", SLOW)
        .await
        .expect("followers");
    b.screenshot("ensemble").await.expect("screenshot");

    let leader = ensemble.leader().await.expect("leader");
    let killed = ensemble.client_addr(leader).to_string();
    ensemble.kill(leader).await;
    let row = format!("#ensemble tr[data-host='{killed}']");
    b.wait_for_text(&row, "down", SLOW)
        .await
        .expect("the killed member is down");
    b.screenshot("ensemble-member-down")
        .await
        .expect("screenshot");
    finish(b).await;
}
