//! A packet socket whose interface goes down must not keep `poll` returning at once: the
//! pending `ENETDOWN` is reported once and cleared, and the socket receives again once the
//! interface is back up (same index, the kernel re-registers it).

use std::time::{Duration, Instant};

use super::{PacketOptions, PacketSocket};

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip").args(args).status();
    assert!(status.is_ok_and(|s| s.success()), "ip {args:?}");
}

#[test]
fn link_down_reports_the_error_once_then_waits_and_link_up_receives_again() {
    std::thread::spawn(|| {
        // SAFETY: unshare(2) takes no pointers; it moves only this thread to a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("skipped: unshare(CLONE_NEWNET) needs root");
            return;
        }
        ip(&[
            "link", "add", "pkt0", "type", "veth", "peer", "name", "pkt1",
        ]);
        ip(&["link", "set", "pkt1", "up"]);
        ip(&["link", "set", "pkt0", "up"]);
        let options = PacketOptions {
            rx_frames: 64,
            tx_frames: 64,
            promiscuous: false,
            ..PacketOptions::default()
        };
        let mut rx = PacketSocket::open("pkt0", options).expect("open pkt0");
        let mut tx = PacketSocket::open("pkt1", options).expect("open pkt1");
        ip(&["link", "set", "pkt0", "down"]);
        // Frames the kernel sent while the link was up (IPv6 neighbour and multicast chatter)
        // may still sit in the ring: take them, then the error must come.
        let deadline = Instant::now() + Duration::from_secs(2);
        let error = loop {
            match rx.wait(1000) {
                Err(error) => break error,
                Ok(_) => {
                    let _ = rx.process(64, |_, _| {});
                    assert!(
                        Instant::now() < deadline,
                        "no error after the link went down"
                    );
                }
            }
        };
        assert_eq!(error.raw_os_error(), Some(libc::ENETDOWN), "{error}");
        // Cleared: the next waits block for their whole timeout.
        let start = Instant::now();
        for _ in 0..3 {
            assert!(!rx.wait(100).expect("no error pending any more"));
        }
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "wait returned at once: {:?}",
            start.elapsed()
        );
        ip(&["link", "set", "pkt0", "up"]);
        let marker = *b"fulcrum-link-back";
        let mut frame = vec![0u8; 14 + marker.len()];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[12] = 0x88;
        frame[13] = 0xb5;
        frame[14..].copy_from_slice(&marker);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = false;
        while !found && Instant::now() < deadline {
            let _ = tx.send(frame.len(), |buf| buf.copy_from_slice(&frame));
            let _ = rx.wait(100);
            rx.process(64, |f, _| found |= f.data.ends_with(&marker))
                .expect("process");
        }
        assert!(found, "nothing received after the link came back");
    })
    .join()
    .expect("the namespace thread");
}
