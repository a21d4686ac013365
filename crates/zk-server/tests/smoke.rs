use std::time::Duration;
use zk_client::*;
use zk_server::ServerHandle;

#[tokio::test]
async fn smoke() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let c = Client::builder()
        .session_timeout(Duration::from_secs(6))
        .connect(&server.connect_string())
        .await
        .unwrap();
    let (p, stat) = c
        .create("/a", b"hi", &CreateOptions::persistent())
        .await
        .unwrap();
    println!("{p} {stat:?}");
    let (d, _s, w) = c.get_and_watch_data("/a").await.unwrap();
    assert_eq!(&d[..], b"hi");
    c.set_data("/a", b"yo", None).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), w)
        .await
        .unwrap();
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    println!("{:?}", c.get_children("/").await);
    println!(
        "{:?}",
        c.multi(&[
            Op::create("/m", "", CreateOptions::persistent()),
            Op::delete("/nope", None)
        ])
        .await
    );
    println!("{:?}", c.whoami().await);
    println!("{}", server.four_letter("srvr").await.unwrap());
    c.close().await.unwrap();
}
