//! The kit's headless Chromium: it loads a page, clicks, waits for the text a script
//! writes, takes screenshots, gives up on a text that never comes, and leaves no process
//! behind once closed or dropped.
//!
//! The page is served by a few lines of hand-written HTTP/1.1 in the test itself.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zk_testkit::{Browser, TestkitError};

/// A status line that reads "waiting", and a button whose click makes a script write
/// "clicked" there a moment later.
const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>zk-testkit browser test</title></head>
<body>
  <h1>Browser test</h1>
  <p id="status">waiting</p>
  <button id="go">Go</button>
  <script>
    document.getElementById("go").addEventListener("click", () => {
      setTimeout(() => {
        document.getElementById("status").textContent = "clicked at last";
      }, 300);
    });
  </script>
</body>
</html>
"#;

/// How long a leftover process may take to die once killed.
const REAP: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_click_changes_the_text_the_browser_waits_for() {
    let url = serve(PAGE).await;
    let browser = Browser::start().await.expect("start headless Chromium");
    let group = browser.driver_pid().expect("chromedriver is running");
    let dir = browser.dir().to_owned();

    browser.goto(&url).await.expect("load the page");
    assert_eq!(browser.text("#status").await.expect("read"), "waiting");

    browser.click("#go").await.expect("click the button");
    let status = browser
        .wait_for_text("#status", "clicked", Duration::from_secs(10))
        .await
        .expect("the script writes the new status");
    assert_eq!(status, "clicked at last");
    browser
        .wait_until_gone("#status", "waiting", Duration::from_secs(1))
        .await
        .expect("the old status is gone");

    let png = browser
        .screenshot("zk-testkit browser test")
        .await
        .expect("take a screenshot");
    assert_eq!(
        png.file_name().and_then(|n| n.to_str()),
        Some("zk-testkit_browser_test.png")
    );
    let bytes = std::fs::read(&png).expect("read the screenshot back");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
        "{} is not a PNG of a page ({} bytes)",
        png.display(),
        bytes.len()
    );

    browser.close().await.expect("end the session");
    assert_nothing_left(group, &dir).await;
}

#[tokio::test]
async fn waiting_for_a_text_that_never_appears_fails_at_the_timeout() {
    let url = serve(PAGE).await;
    let browser = Browser::start().await.expect("start headless Chromium");
    browser.goto(&url).await.expect("load the page");

    let started = Instant::now();
    let err = browser
        .wait_for_text("#status", "never written", Duration::from_secs(1))
        .await
        .expect_err("nothing writes that text");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(4),
        "gave up after {waited:?}"
    );
    assert!(matches!(err, TestkitError::Timeout { .. }), "{err}");
    // The error says what the element read instead.
    assert!(err.to_string().contains("waiting"), "{err}");

    // A selector that matches nothing: the error quotes the page.
    let err = browser
        .wait_for_text("#no-such-element", "anything", Duration::from_millis(300))
        .await
        .expect_err("no such element");
    assert!(err.to_string().contains("Browser test"), "{err}");

    browser.close().await.expect("end the session");
}

#[tokio::test]
async fn dropping_the_browser_without_closing_it_kills_chromium() {
    let url = serve(PAGE).await;
    let browser = Browser::start().await.expect("start headless Chromium");
    let group = browser.driver_pid().expect("chromedriver is running");
    let dir = browser.dir().to_owned();
    browser.goto(&url).await.expect("load the page");
    assert!(
        !live_processes(group, &dir).is_empty(),
        "chromedriver and Chromium run in chromedriver's process group"
    );

    drop(browser);
    assert_nothing_left(group, &dir).await;
}

/// Serves `page` at `/` (and 404 elsewhere) on a free loopback port; returns the page's URL.
async fn serve(page: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = if head.starts_with(b"GET / ") {
                    ("200 OK", page)
                } else {
                    ("404 Not Found", "not found\n")
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}/")
}

/// Waits until no process is left in chromedriver's process group (chromedriver, Chromium
/// and the kit's watchdog) and none names the browser's directory on its command line
/// (Chromium, its crash handlers).
async fn assert_nothing_left(group: u32, dir: &Path) {
    let deadline = Instant::now() + REAP;
    loop {
        let left = live_processes(group, dir);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still running after {REAP:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Live (not zombie) processes in process group `group` or naming `dir` on their command
/// line, as "pid name".
fn live_processes(group: u32, dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // "pid (name) state ppid pgrp ...": the name may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(&state), Some(pgrp)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        if state == "Z" {
            continue;
        }
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let in_group = pgrp.parse::<u32>() == Ok(group);
        if in_group || String::from_utf8_lossy(&cmdline).contains(&dir) {
            found.push(format!("{} {name}", entry.file_name().to_string_lossy()));
        }
    }
    found
}
