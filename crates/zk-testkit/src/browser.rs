//! A headless Chromium for browser tests, driven over WebDriver with [`fantoccini`].
//!
//! Owns the browser of [`Browser`]: a `chromedriver` child on a loopback port of its own
//! choosing, the Chromium it starts (with a fresh profile in a temporary directory and the
//! flags that keep it off the network), and the WebDriver session between them. Debian's
//! `chromium` and `chromium-driver` packages provide the binaries (`scripts/test.sh`
//! installs them).
//!
//! chromedriver runs in a process group of its own, which Chromium's processes join:
//! [`Browser::close`] ends the session and then kills whatever is left of the group, and
//! dropping a [`Browser`] without closing it kills the group at once. A watchdog in that
//! group kills it too should the test process die without dropping the handle (a test
//! timeout, an abort), so no Chromium outlives its test.
//!
//! Screenshots go to `$ZK_SCREENSHOT_DIR` if it is set, else to
//! `<target dir>/console-screenshots/`.
//!
//! ```no_run
//! # async fn demo() -> zk_testkit::Result<()> {
//! use std::time::Duration;
//! let browser = zk_testkit::Browser::start().await?;
//! browser.goto("http://127.0.0.1:8080/").await?;
//! browser.click("#refresh").await?;
//! let status = browser.wait_for_text("#status", "connected", Duration::from_secs(5)).await?;
//! let png = browser.screenshot("connected").await?;
//! println!("{status}; see {}", png.display());
//! browser.close().await?;
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::{Result, TestkitError};

/// The fantoccini crate the [`Browser`] is built on, for its [`Locator`] and element API
/// behind [`Browser::client`] without a dependency of one's own.
pub use fantoccini;

/// Where Debian's `chromium-driver` puts chromedriver.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` puts its launcher.
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long chromedriver may take to listen and report itself ready.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long opening the session (starting Chromium) may take; a first start on a busy
/// two-core machine takes several seconds.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long ending the session (Chromium quitting) may take before the group is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a page load may take before `goto` fails (chromedriver's default is 300 s).
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long describing the page for a timeout error may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two polls of chromedriver or of the page.
const POLL: Duration = Duration::from_millis(100);
/// How many lines of chromedriver's log an error quotes.
const LOG_TAIL_LINES: usize = 30;
/// How much of the page's text a timeout error quotes.
const PAGE_TEXT_LIMIT: usize = 2000;

/// Chromium's command line. Headless, no sandbox (tests run as root), and no background
/// networking: without these flags Chromium keeps trying to reach Google's services, which
/// on a machine without a network only burns CPU.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// Runs in the driver's process group and kills the group once the test process (`$1`)
/// is gone without having done so itself. `$2` is the group. (`kill -9 -N`, not
/// `kill -KILL -- -N`: Debian's `/bin/sh` is dash, whose `kill` takes no `--`.)
const WATCHDOG: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "-$2""#;

/// A headless Chromium with an open WebDriver session (see the module docs).
///
/// Call [`Browser::close`] at the end of a test; dropping the handle instead kills
/// chromedriver and Chromium without ending the session.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// Declared before `dir` so the processes die before their profile is deleted.
    driver: Driver,
    /// Holds the Chromium profile and chromedriver's log.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port, waits until it is ready, and opens a
    /// session in a fresh headless Chromium (1280×900, a new profile in a temporary
    /// directory).
    ///
    /// # Errors
    /// [`TestkitError::Browser`] when `/usr/bin/chromedriver` or `/usr/bin/chromium` is
    /// missing (run `scripts/test.sh` or `apt-get install chromium chromium-driver`),
    /// chromedriver exits early or Chromium does not start; [`TestkitError::Timeout`] when
    /// chromedriver is not ready within 20 s. Both quote the end of chromedriver's log.
    pub async fn start() -> Result<Self> {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(binary).is_file() {
                return Err(TestkitError::Browser(format!(
                    "{binary} is missing: browser tests need Debian's Chromium and chromedriver; \
                     run `scripts/test.sh` (which installs them) or \
                     `apt-get install chromium chromium-driver`"
                )));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("zk-browser-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating the browser's directory", e))?;
        let profile = dir.path().join("profile");
        let log = dir.path().join("chromedriver.log");
        let mut driver = Driver::spawn(dir.path(), &log)?;
        let port = driver.wait_ready().await?;

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        caps.insert(
            "timeouts".into(),
            json!({ "pageLoad": PAGE_LOAD_TIMEOUT.as_millis() as u64 }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let client = match tokio::time::timeout(SESSION_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(TestkitError::Browser(format!(
                    "opening a WebDriver session at {url} failed: {e}\n{}",
                    driver.log_tail()
                )))
            }
            Err(_) => {
                return Err(TestkitError::Timeout {
                    what: format!(
                        "opening a WebDriver session at {url}\n{}",
                        driver.log_tail()
                    ),
                    after: SESSION_TIMEOUT,
                })
            }
        };
        Ok(Self {
            client,
            driver,
            dir,
        })
    }

    /// The WebDriver client, for everything the helpers here do not cover (see
    /// [`fantoccini::Client`]).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The temporary directory holding Chromium's profile (`profile/`) and chromedriver's
    /// log (`chromedriver.log`); deleted when the browser is closed or dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// chromedriver's process id, which is also the id of the process group that Chromium's
    /// processes join; `None` once it has been reaped. Lets a test check that nothing is
    /// left running after [`Browser::close`].
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.child.id()
    }

    /// Loads `url` and waits until the page has loaded (at most 30 s).
    ///
    /// # Errors
    /// [`TestkitError::Browser`] when the URL is invalid or the page does not load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .map_err(webdriver(format!("loading {url}")))
    }

    /// Clicks the first element matching the CSS selector `css`.
    ///
    /// # Errors
    /// [`TestkitError::Browser`] when no element matches or the click fails.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(webdriver(format!("finding `{css}` to click it")))?;
        element
            .click()
            .await
            .map_err(webdriver(format!("clicking `{css}`")))
    }

    /// The rendered text of the first element matching the CSS selector `css`.
    ///
    /// # Errors
    /// [`TestkitError::Browser`] when no element matches.
    pub async fn text(&self, css: &str) -> Result<String> {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(webdriver(format!("finding `{css}`")))?;
        element
            .text()
            .await
            .map_err(webdriver(format!("reading the text of `{css}`")))
    }

    /// Waits until an element matching the CSS selector `css` has `needle` in its rendered
    /// text, and returns that element's text. The page is polled every 100 ms, so elements
    /// that appear later (or are replaced) are found.
    ///
    /// # Errors
    /// [`TestkitError::Timeout`] after `timeout`, quoting the current text of the matching
    /// elements (or of the whole page if none matches); [`TestkitError::Browser`] when the
    /// session fails.
    pub async fn wait_for_text(
        &self,
        css: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let poll = async {
            loop {
                let texts = self.texts(css).await?;
                if let Some(text) = texts.into_iter().find(|t| t.contains(needle)) {
                    return Ok(text);
                }
                tokio::time::sleep(POLL).await;
            }
        };
        match tokio::time::timeout(timeout, poll).await {
            Ok(found) => found,
            Err(_) => Err(TestkitError::Timeout {
                what: format!(
                    "waiting for an element matching `{css}` to contain {needle:?}; {}",
                    self.describe(css).await
                ),
                after: timeout,
            }),
        }
    }

    /// Waits until no element matching the CSS selector `css` has `needle` in its rendered
    /// text (also true when no element matches at all).
    ///
    /// # Errors
    /// [`TestkitError::Timeout`] after `timeout`, quoting the current text of the matching
    /// elements; [`TestkitError::Browser`] when the session fails.
    pub async fn wait_until_gone(&self, css: &str, needle: &str, timeout: Duration) -> Result<()> {
        let poll = async {
            loop {
                let texts = self.texts(css).await?;
                if !texts.iter().any(|t| t.contains(needle)) {
                    return Ok(());
                }
                tokio::time::sleep(POLL).await;
            }
        };
        match tokio::time::timeout(timeout, poll).await {
            Ok(gone) => gone,
            Err(_) => Err(TestkitError::Timeout {
                what: format!(
                    "waiting until no element matching `{css}` contains {needle:?}; {}",
                    self.describe(css).await
                ),
                after: timeout,
            }),
        }
    }

    /// Saves a PNG screenshot of the window as `<name>.png` in `$ZK_SCREENSHOT_DIR`, or in
    /// `<target dir>/console-screenshots/` when that is not set (the folder is created), and
    /// returns its path. Characters of `name` other than letters, digits, `-`, `_` and `.`
    /// become `_`; a later screenshot of the same name replaces the earlier one.
    ///
    /// # Errors
    /// [`TestkitError::Browser`] when Chromium cannot take it, [`TestkitError::Io`] when the
    /// file cannot be written.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .map_err(webdriver("taking a screenshot"))?;
        let dir = screenshot_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| TestkitError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(screenshot_file_name(name));
        tokio::fs::write(&path, png)
            .await
            .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    /// Ends the WebDriver session (chromedriver quits Chromium), then stops chromedriver and
    /// kills anything left of its process group, and deletes the profile.
    ///
    /// # Errors
    /// [`TestkitError::Browser`] or [`TestkitError::Timeout`] when the session did not end
    /// cleanly; the processes are stopped all the same.
    pub async fn close(self) -> Result<()> {
        let Browser {
            client,
            mut driver,
            dir,
        } = self;
        let closed = tokio::time::timeout(CLOSE_TIMEOUT, client.close()).await;
        let tail = driver.log_tail();
        driver.stop().await;
        drop(dir);
        match closed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TestkitError::Browser(format!(
                "ending the WebDriver session failed: {e}\n{tail}"
            ))),
            Err(_) => Err(TestkitError::Timeout {
                what: format!("ending the WebDriver session\n{tail}"),
                after: CLOSE_TIMEOUT,
            }),
        }
    }

    /// The rendered texts of all elements matching `css`; elements replaced while being read
    /// are skipped.
    async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let elements = self
            .client
            .find_all(Locator::Css(css))
            .await
            .map_err(webdriver(format!("finding `{css}`")))?;
        let mut texts = Vec::with_capacity(elements.len());
        for element in elements {
            match element.text().await {
                Ok(text) => texts.push(text),
                Err(e) if e.is_stale_element_reference() => {}
                Err(e) => return Err(webdriver(format!("reading the text of `{css}`"))(e)),
            }
        }
        Ok(texts)
    }

    /// What a timeout error says about the page: the texts of the elements matching `css`,
    /// or the text of the whole page if none does.
    async fn describe(&self, css: &str) -> String {
        let describe = async {
            match self.texts(css).await {
                Ok(texts) if !texts.is_empty() => {
                    format!("the matching elements read {texts:?}")
                }
                Ok(_) => match self.text("body").await {
                    Ok(page) => format!(
                        "no element matches; the page reads {:?}",
                        truncate(&page, PAGE_TEXT_LIMIT)
                    ),
                    Err(e) => format!("no element matches, and the page's text is unknown: {e}"),
                },
                Err(e) => format!("the page could not be read: {e}"),
            }
        };
        tokio::time::timeout(DESCRIBE_TIMEOUT, describe)
            .await
            .unwrap_or_else(|_| "the page did not answer".to_owned())
    }
}

/// The chromedriver child in its process group, with the watchdog that kills the group if
/// the test process dies.
#[derive(Debug)]
struct Driver {
    child: Child,
    watchdog: Option<Child>,
    /// The process group (chromedriver's pid), while chromedriver is unreaped and so the id
    /// cannot have been reused.
    group: Option<i32>,
    log: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a port of its choosing, its output going to `log`.
    fn spawn(dir: &Path, log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log)
            .map_err(|e| TestkitError::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| TestkitError::io(format!("opening {}", log.display()), e))?;
        let child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            // Chromium keeps its crash database and caches under the XDG directories,
            // not the profile: keep them in the throwaway directory too.
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TestkitError::io(format!("starting {CHROMEDRIVER}"), e))?;
        let group = child.id().and_then(|pid| i32::try_from(pid).ok());
        let mut driver = Self {
            child,
            watchdog: None,
            group,
            log: log.to_owned(),
        };
        if let Some(group) = group {
            match Command::new("/bin/sh")
                .args(["-c", WATCHDOG, "zk-browser-watchdog"])
                .arg(std::process::id().to_string())
                .arg(group.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(group)
                .kill_on_drop(true)
                .spawn()
            {
                Ok(watchdog) => driver.watchdog = Some(watchdog),
                Err(e) => tracing::warn!("no watchdog for chromedriver's process group: {e}"),
            }
        }
        Ok(driver)
    }

    /// Waits until chromedriver has printed its port and answers `/status` with
    /// `"ready": true`; returns the port.
    async fn wait_ready(&mut self) -> Result<u16> {
        let deadline = Instant::now() + DRIVER_TIMEOUT;
        let mut port = None;
        loop {
            match self.child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    self.kill_group();
                    return Err(TestkitError::Browser(format!(
                        "chromedriver exited ({status}) before it was ready\n{}",
                        self.log_tail()
                    )));
                }
                Err(e) => return Err(TestkitError::io("waiting for chromedriver", e)),
            }
            if port.is_none() {
                port = std::fs::read_to_string(&self.log)
                    .ok()
                    .and_then(|log| parse_port(&log));
            }
            if let Some(port) = port {
                if status_ready(port).await {
                    return Ok(port);
                }
            }
            if Instant::now() >= deadline {
                let what = match port {
                    None => "waiting for chromedriver to listen",
                    Some(_) => "waiting for chromedriver's /status to say it is ready",
                };
                return Err(TestkitError::Timeout {
                    what: format!("{what}\n{}", self.log_tail()),
                    after: DRIVER_TIMEOUT,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last lines of chromedriver's log, headed as such.
    fn log_tail(&self) -> String {
        let log = std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("(unreadable: {e})"));
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        format!("--- end of {} ---\n{tail}", self.log.display())
    }

    /// SIGKILLs every process in chromedriver's group: chromedriver, Chromium's processes
    /// and the watchdog.
    fn kill_group(&mut self) {
        if let Some(group) = self.group.take() {
            // SAFETY: kill(2) has no memory-safety preconditions; the group id is that of
            // our own unreaped child, so it names no one else's processes.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }

    /// Kills the group and reaps chromedriver and the watchdog.
    async fn stop(&mut self) {
        self.kill_group();
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.child.wait()).await;
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.start_kill();
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, watchdog.wait()).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The children themselves are killed (and reaped in the background) by kill_on_drop.
        self.kill_group();
    }
}

/// Whether chromedriver on `port` answers `GET /status` with `"ready": true`.
async fn status_ready(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        let request =
            format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        // chromedriver keeps the connection open despite `Connection: close`: read the
        // response up to its Content-Length rather than to the end of the stream.
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        while !http_response_complete(&response) {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(response)) => {
            let compact: String = response.split_whitespace().collect();
            response.starts_with("HTTP/1.1 200") && compact.contains("\"ready\":true")
        }
        _ => false,
    }
}

/// Whether `response` holds a whole HTTP response: its head and as many body bytes as its
/// `Content-Length` says.
fn http_response_complete(response: &[u8]) -> bool {
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..head_end]);
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    match length {
        Some(length) => response.len() >= head_end + 4 + length,
        // Without a length the body ends with the connection.
        None => false,
    }
}

/// The port in chromedriver's "ChromeDriver was started successfully on port 39673." line.
fn parse_port(log: &str) -> Option<u16> {
    const MARKER: &str = "started successfully on port ";
    let at = log.find(MARKER)? + MARKER.len();
    let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `<name>.png` with characters unsafe in a file name replaced.
fn screenshot_file_name(name: &str) -> String {
    let mut file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if file.trim_matches('.').is_empty() {
        file = "screenshot".to_owned();
    }
    if !file.ends_with(".png") {
        file.push_str(".png");
    }
    file
}

/// `$ZK_SCREENSHOT_DIR`, or `console-screenshots/` in the workspace's target directory.
fn screenshot_dir() -> PathBuf {
    match std::env::var_os("ZK_SCREENSHOT_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => target_dir().join("console-screenshots"),
    }
}

/// The target directory: an absolute `$CARGO_TARGET_DIR`, else the directory holding the
/// running test binary (`<target>/debug/deps/<test>`) that cargo marked with
/// `CACHEDIR.TAG`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir;
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        let found = exe
            .ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .or_else(|| exe.ancestors().find(|dir| dir.ends_with("target")));
        if let Some(dir) = found {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target"))
}

/// At most `limit` bytes of `text`, cut at a character boundary, with a mark if cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Maps a WebDriver error to [`TestkitError::Browser`], saying what was being done.
fn webdriver(what: impl Display) -> impl FnOnce(CmdError) -> TestkitError {
    move |e| TestkitError::Browser(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_from_the_started_line() {
        let log = "Starting ChromeDriver 156.0 on port 0\n\
                   Only local connections are allowed.\n\
                   ChromeDriver was started successfully on port 39673.\n";
        assert_eq!(parse_port(log), Some(39673));
        assert_eq!(parse_port("Starting ChromeDriver on port 0\n"), None);
    }

    #[test]
    fn a_response_is_complete_at_its_content_length() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length:4\r\nConnection:close\r\n\r\n";
        assert!(!http_response_complete(&head.as_bytes()[..20]));
        assert!(!http_response_complete(format!("{head}abc").as_bytes()));
        assert!(http_response_complete(format!("{head}abcd").as_bytes()));
    }

    #[test]
    fn screenshot_names_are_safe_file_names() {
        assert_eq!(screenshot_file_name("tree view"), "tree_view.png");
        assert_eq!(screenshot_file_name("../x"), ".._x.png");
        assert_eq!(screenshot_file_name("done.png"), "done.png");
        assert_eq!(screenshot_file_name(""), "screenshot.png");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("short", 10), "short");
    }
}
