//! `console`: the web console's API and its safety rules, over real HTTP against the
//! `zkctl console` binary and a bundled server. (The page itself is driven in Chromium
//! by `console_browser`.)

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{Client, CreateOptions, Op};

use crate::common::{dead_address, register, server, Running};

/// A console started by the binary (killed when this is dropped), and its address
/// (`127.0.0.1:PORT`).
pub struct Console {
    _process: Running,
    pub addr: String,
}

impl Console {
    /// `zkctl --server ZK console --listen 127.0.0.1:0 EXTRA…`.
    pub async fn start(zk: &str, extra: &[&str]) -> Console {
        let mut args = vec!["console", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut process = Running::spawn(zk, &args);
        let line = process.stdout_line().await;
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Console {
            _process: process,
            addr,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One HTTP exchange's outcome.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// Sends one request (`Connection: close`) and reads the whole reply.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("console reachable");
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("a reply in time")
        .expect("read reply");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn get(addr: &str, path: &str) -> Reply {
    http(addr, "GET", path, &[], None).await
}

async fn send(addr: &str, method: &str, path: &str, body: Value) -> Reply {
    http(addr, method, path, &[JSON], Some(&body.to_string())).await
}

#[tokio::test]
async fn a_read_only_console_shows_and_checks_but_changes_nothing() {
    let s = server().await;
    let zk = s.connect_string();
    let console = Console::start(&zk, &[]).await;
    let a = &console.addr;

    let info = get(a, "/api/info").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["allow_writes"], json!(false));

    let save = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": "{\"routes\": []}", "version": null}),
    )
    .await;
    assert_eq!(save.status, 403, "{save:?}");
    assert!(save.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("--allow-writes"));
    let edit = send(
        a,
        "PUT",
        "/api/tree",
        json!({"path": "/zookeeper", "data": "x", "version": 0}),
    )
    .await;
    assert_eq!(edit.status, 403, "{edit:?}");

    // Checking a draft writes nothing, so it is allowed, and names the bad field.
    let check = send(
        a,
        "POST",
        "/api/routes/orders/check",
        json!({"rule": r#"{"routes": [{"destinations": [{"weight": 0}]}]}"#}),
    )
    .await;
    assert_eq!(check.status, 200, "{check:?}");
    let report = check.json();
    assert_eq!(report["valid"], json!(false));
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("routes[0].destinations[0].weight"),
        "{report}"
    );
    let client = Client::connect(&zk).await.expect("client");
    assert_eq!(client.exists("/routes/orders").await.expect("exists"), None);
}

#[tokio::test]
async fn requests_from_elsewhere_are_refused() {
    let s = server().await;
    let console = Console::start(&s.connect_string(), &["--allow-writes"]).await;
    let a = &console.addr;

    // A DNS name rebound to 127.0.0.1 does not reach a loopback console.
    let rebound = http(
        a,
        "GET",
        "/api/info",
        &[("Host", "attacker.example:80")],
        None,
    )
    .await;
    assert_eq!(rebound.status, 421, "{rebound:?}");
    assert!(rebound.json()["error"].is_string());

    // A plain HTML form cannot send JSON; another origin may not change anything.
    let form = http(
        a,
        "PUT",
        "/api/tree",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("path=/a"),
    )
    .await;
    assert_eq!(form.status, 415, "{form:?}");
    let cross = http(
        a,
        "PUT",
        "/api/tree",
        &[JSON, ("Origin", "http://attacker.example")],
        Some(r#"{"path": "/zookeeper", "data": "x", "version": 0}"#),
    )
    .await;
    assert_eq!(cross.status, 403, "{cross:?}");

    // Every answer carries the content security policy; API answers are not cached.
    let page = get(a, "/").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .is_some_and(|p| p.contains("script-src 'self'")));
    assert_eq!(
        get(a, "/api/info").await.header("cache-control"),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_token_is_needed_on_every_request_and_can_live_in_a_cookie() {
    let s = server().await;
    let console = Console::start(&s.connect_string(), &["--token", "s3cret-token"]).await;
    let a = &console.addr;

    assert_eq!(get(a, "/api/info").await.status, 401);
    assert_eq!(get(a, "/").await.status, 401);
    let wrong = http(
        a,
        "GET",
        "/api/info",
        &[("Authorization", "Bearer s3cret-tokem")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    let bearer = http(
        a,
        "GET",
        "/api/info",
        &[("Authorization", "Bearer s3cret-token")],
        None,
    )
    .await;
    assert_eq!(bearer.status, 200, "{bearer:?}");

    let traded = get(a, "/?token=s3cret-token").await;
    assert_eq!(traded.status, 303);
    assert_eq!(traded.header("location"), Some("/"));
    let cookie = traded.header("set-cookie").expect("a cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value");
    assert_eq!(
        http(a, "GET", "/", &[("Cookie", pair)], None).await.status,
        200
    );
}

#[tokio::test]
async fn a_rule_is_saved_only_on_the_version_it_was_loaded_at() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    let console = Console::start(&zk, &["--allow-writes"]).await;
    let a = &console.addr;

    let empty = get(a, "/api/routes/orders").await.json();
    assert_eq!(
        (empty["exists"].clone(), empty["instances"].clone()),
        (json!(false), json!(2))
    );

    let v1 = r#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}, "weight": 90}, {"subset": {"version": "2.0"}, "weight": 10}]}]}"#;
    let created = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": v1, "version": null}),
    )
    .await;
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.json()["version"], json!(0));

    // What each destination selects now, and the split.
    let shown = get(a, "/api/routes/orders").await.json();
    let split = &shown["check"]["split"][0]["destinations"];
    assert_eq!(split[0]["instances"], json!(["a"]));
    assert_eq!(split[0]["share_percent"], json!(90.0));
    assert_eq!(split[1]["instances"], json!(["b"]));

    let mine = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": v1.replace("90", "80"), "version": 0}),
    )
    .await;
    assert_eq!(mine.json()["version"], json!(1));
    // Someone who loaded version 0 too cannot overwrite it.
    let theirs = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": v1.replace("90", "50"), "version": 0}),
    )
    .await;
    assert_eq!(theirs.status, 409, "{theirs:?}");
    let refusal = theirs.json();
    assert_eq!(refusal["current_version"], json!(1));
    assert!(refusal["error"]
        .as_str()
        .unwrap_or_default()
        .contains("someone else changed"));

    let invalid = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": "{\"routes\": [{}]}", "version": 1}),
    )
    .await;
    assert_eq!(invalid.status, 422, "{invalid:?}");
    assert_eq!(invalid.json()["check"]["valid"], json!(false));

    // A subset selecting nobody is a warning: saved only when asked to.
    let nobody = r#"{"routes": [{"destinations": [{"subset": {"version": "9"}}]}]}"#;
    let warned = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": nobody, "version": 1}),
    )
    .await;
    assert_eq!(
        (warned.status, warned.json()["needs_force"].clone()),
        (422, json!(true))
    );
    let forced = send(
        a,
        "PUT",
        "/api/routes/orders",
        json!({"rule": nobody, "version": 1, "force": true}),
    )
    .await;
    assert_eq!(forced.json()["version"], json!(2));

    let garbage = http(a, "PUT", "/api/routes/orders", &[JSON], Some("{not json")).await;
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert!(garbage.json()["error"].is_string());
    // A service name that does not decode is a JSON error too, not a plain-text one.
    let undecodable = get(a, "/api/routes/%FF%FE").await;
    assert_eq!(undecodable.status, 400, "{undecodable:?}");
    assert!(
        undecodable.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("service name")),
        "{undecodable:?}"
    );
}

#[tokio::test]
async fn trying_a_request_names_the_route_and_the_endpoint() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    let console = Console::start(&zk, &[]).await;
    let a = &console.addr;
    let draft = r#"{"routes": [{"name": "beta", "match": {"headers": [{"name": "x-group", "exact": "beta"}]}, "destinations": [{"subset": {"version": "2.0"}}]}]}"#;
    let tried = send(
        a,
        "POST",
        "/api/routes/orders/try",
        json!({"method": "Get", "headers": {"x-group": "beta"}, "rule": draft}),
    )
    .await;
    assert_eq!(tried.status, 200, "{tried:?}");
    let t = tried.json();
    assert_eq!(t["picked"]["id"], json!("b"));
    assert_eq!(t["route"]["name"], json!("beta"));
    assert!(t["text"].as_str().unwrap_or_default().contains("beta"));
    let bad = send(a, "POST", "/api/routes/orders/try", json!({"rule": "{"})).await;
    assert_eq!(bad.status, 422, "{bad:?}");
}

#[tokio::test]
async fn the_tree_shows_one_page_of_children_and_data_as_text() {
    let s = server().await;
    let zk = s.connect_string();
    let client = Client::connect(&zk).await.expect("client");
    client
        .create("/big", b"", &CreateOptions::persistent())
        .await
        .expect("create");
    for i in 0..450 {
        client
            .create(&format!("/big/n{i:04}"), b"", &CreateOptions::persistent())
            .await
            .expect("create child");
    }
    client
        .create(
            "/big/n0000/evil",
            b"<script>alert(1)</script>",
            &CreateOptions::persistent(),
        )
        .await
        .expect("create");
    let console = Console::start(&zk, &["--allow-writes"]).await;
    let a = &console.addr;

    let page = get(a, "/api/tree?path=/big&offset=400&limit=200")
        .await
        .json();
    assert_eq!(page["children"]["total"], json!(450));
    let names = page["children"]["names"].as_array().expect("names");
    assert_eq!((names.len(), names[0].clone()), (50, json!("n0400")));

    let evil = get(a, "/api/tree?path=/big/n0000/evil").await.json();
    assert_eq!(evil["data"]["text"], json!("<script>alert(1)</script>"));
    assert_eq!(evil["acl"][0]["scheme"], json!("world"));

    assert_eq!(get(a, "/api/tree?path=/nothing").await.status, 404);
    assert_eq!(get(a, "/api/tree?path=no-slash").await.status, 400);
    assert_eq!(get(a, "/api/tree?offset=-1").await.status, 400);
    assert_eq!(get(a, "/api/nothing").await.status, 404);

    let set = send(
        a,
        "PUT",
        "/api/tree",
        json!({"path": "/big", "data": "new", "version": 0}),
    )
    .await;
    assert_eq!(set.status, 200, "{set:?}");
    let stale = send(
        a,
        "PUT",
        "/api/tree",
        json!({"path": "/big", "data": "old", "version": 0}),
    )
    .await;
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(&client.get_data("/big").await.expect("get").0[..], b"new");
}

/// A child list bigger than a default reply (1 MiB) is still listed, once, and paged.
#[tokio::test]
async fn a_node_with_more_children_than_a_default_reply_holds_is_paged() {
    let s = server().await;
    let zk = s.connect_string();
    let client = Client::connect(&zk).await.expect("client");
    client
        .create("/wide", b"", &CreateOptions::persistent())
        .await
        .expect("create");
    let children = 150_000;
    let mut pending = futures::stream::FuturesUnordered::new();
    for chunk in (0..children).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|i| {
                Op::create(
                    format!("/wide/n{i:06}"),
                    Vec::new(),
                    CreateOptions::persistent(),
                )
            })
            .collect();
        let c = client.clone();
        pending.push(async move { c.multi(&ops).await.expect("multi") });
        if pending.len() >= 8 {
            pending.next().await;
        }
    }
    while pending.next().await.is_some() {}
    let console = Console::start(&zk, &[]).await;
    let page = get(&console.addr, "/api/tree?path=/wide&offset=149998&limit=5").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["children"]["total"], json!(children));
    assert_eq!(page["children"]["names"], json!(["n149998", "n149999"]));
    assert_eq!(page["stat"]["numChildren"], json!(children));
}

#[tokio::test]
async fn the_ensemble_view_reports_every_member_and_a_dead_one_as_down() {
    let s = server().await;
    let zk = format!("{},{}", s.connect_string(), dead_address());
    let console = Console::start(&zk, &[]).await;
    let e = get(&console.addr, "/api/ensemble").await.json();
    let members = e["members"].as_array().expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["mode"], json!("standalone"));
    assert!(members[0]["latency"]["avg"].is_number(), "{e}");
    assert!(members[0]["outstanding"].is_number(), "{e}");
    assert_eq!(members[0]["lag"], json!(0));
    assert!(members[1]["error"].is_string(), "{e}");
}

/// Against Apache ZooKeeper 3.8: its services, and its members' `srvr` answers, with one
/// member killed.
#[tokio::test]
async fn the_console_reads_an_apache_ensemble() {
    let apache = zk_testkit::ApacheZk::start(3)
        .await
        .expect("Apache ZooKeeper, 3 members");
    let zk = apache.connect_string().to_owned();
    let _live = register(&zk, "orders", &[("a", "1.0")]).await;
    let console = Console::start(&zk, &[]).await;
    let services = get(&console.addr, "/api/services").await.json();
    assert_eq!(
        services["services"][0]["instances"][0]["id"],
        json!("a"),
        "{services}"
    );

    let e = get(&console.addr, "/api/ensemble").await.json();
    let members = e["members"].as_array().expect("members");
    let modes: Vec<&str> = members.iter().filter_map(|m| m["mode"].as_str()).collect();
    assert_eq!(modes.iter().filter(|m| **m == "leader").count(), 1, "{e}");
    assert_eq!(modes.iter().filter(|m| **m == "follower").count(), 2, "{e}");
    for m in members {
        assert!(
            m["latency"]["max"].is_number() && m["outstanding"].is_number(),
            "{m}"
        );
        assert!(m["lag"].as_i64().is_some_and(|l| l >= 0), "{m}");
    }

    apache.kill(2).await.expect("kill a member");
    let e = get(&console.addr, "/api/ensemble").await.json();
    assert!(e["members"][2]["error"].is_string(), "{e}");
    assert!(e["members"][2]["mode"].is_null(), "{e}");
}

#[tokio::test]
async fn the_services_stream_shows_a_registration_within_a_second() {
    let s = server().await;
    let zk = s.connect_string();
    let _first = register(&zk, "orders", &[("a", "1.0")]).await;
    let console = Console::start(&zk, &[]).await;
    let mut stream = TcpStream::connect(&console.addr).await.expect("connect");
    stream
        .write_all(
            format!(
                "GET /api/services/stream HTTP/1.1\r\nHost: {}\r\n\r\n",
                console.addr
            )
            .as_bytes(),
        )
        .await
        .expect("send");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let mut read_until = async |needle: &str, within: Duration| {
        tokio::time::timeout(within, async {
            while !seen.contains(needle) {
                let n = stream.read(&mut buf).await.expect("read");
                assert!(n > 0, "stream ended: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{needle:?} not streamed in {within:?}: {seen}"));
    };
    read_until("\"id\":\"a\"", Duration::from_secs(10)).await;
    let _second = register(&zk, "payments", &[("p1", "1.0")]).await;
    read_until("\"id\":\"p1\"", Duration::from_secs(1)).await;
}
