//! The listener over real TCP on loopback: `/metrics` answers 200 with the exposition and its
//! content type, `/api/v1/status` the same snapshot as JSON, `/` the status page, other paths 404, other methods 405, and a stopped listener refuses connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulcrum_metrics::{Listener, ServerSample, Snapshot, SnapshotSource};

fn get(addr: SocketAddr, request_line: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{request_line}\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_the_status_and_nothing_else() {
    let scrapes = Arc::new(AtomicU64::new(0));
    let counted = scrapes.clone();
    let source: SnapshotSource = Arc::new(move || Snapshot {
        servers: vec![ServerSample {
            server: 1,
            queries: counted.fetch_add(1, Ordering::Relaxed) + 1,
            sessions: 0,
        }],
        ..Snapshot::default()
    });
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), source)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let replies = tokio::task::spawn_blocking(move || {
        [
            get(addr, "GET /metrics HTTP/1.1"),
            get(addr, "GET /metrics HTTP/1.1"),
            get(addr, "GET /nothing HTTP/1.1"),
            get(addr, "POST /metrics HTTP/1.1"),
            get(addr, "GET /api/v1/status HTTP/1.1"),
            get(addr, "GET / HTTP/1.1"),
        ]
    })
    .await
    .unwrap();
    assert!(
        replies[0].starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        replies[0]
    );
    assert!(replies[0]
        .to_lowercase()
        .contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(replies[0].contains("\nfulcrum_server_queries_total{server=\"1\"} 1\n"));
    // Each scrape collects afresh.
    assert!(replies[1].contains("\nfulcrum_server_queries_total{server=\"1\"} 2\n"));
    assert!(
        replies[2].starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{}",
        replies[2]
    );
    assert!(replies[3].starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    let status = &replies[4];
    assert!(status.starts_with("HTTP/1.1 200 OK\r\n"), "{status}");
    assert!(status
        .to_lowercase()
        .contains("content-type: application/json\r\n"));
    let (_, body) = status.split_once("\r\n\r\n").unwrap();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["servers"][0]["queries"], 3, "{body}");
    let page = &replies[5];
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.to_lowercase().contains("content-type: text/html"));
    assert!(page.contains("/api/v1/status"));
    // The page itself collects nothing: two scrapes and one status.
    assert_eq!(scrapes.load(Ordering::Relaxed), 3);

    listener.stop().await;
    assert!(TcpStream::connect(addr).is_err(), "stopped, yet accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_does_not_hold_a_slot_forever() {
    let source: SnapshotSource = Arc::new(Snapshot::default);
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), source)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let reply = tokio::task::spawn_blocking(move || {
        // Fill every slot with clients that say nothing; they are cut off after the header
        // timeout, and then a real request gets through.
        let silent: Vec<TcpStream> = (0..fulcrum_metrics::MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(fulcrum_metrics::HEADER_TIMEOUT + Duration::from_secs(1));
        let reply = get(addr, "GET /metrics HTTP/1.1");
        drop(silent);
        reply
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    listener.stop().await;
}
