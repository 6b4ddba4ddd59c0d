//! `gluey dev`, the README's first command: on its embedded broker, the simulated carriers' pushes
//! (FedEx, UPS, DHL and a direct integrator, each with its own credentials) reach the sample
//! customer, signature verified, within the deadline; its registered UPS shipments are subscribed
//! with the simulated Track Alert; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn dev_mode_delivers_verified_events_to_the_sample_customer() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(["dev", "--push-interval", "200ms"])
        .args([
            "--ingest-listen",
            "127.0.0.1:0",
            "--customer-listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut banner = Vec::new();
    let mut verified_events = 0;
    // Tracking-number prefixes of the simulated FedEx, UPS, DHL and direct integrator.
    let mut carriers_seen = [
        ("7946", false),
        ("1Z", false),
        ("0034", false),
        ("SP", false),
    ];
    let mut ups_subscribed = false;
    while verified_events < 5 || !ups_subscribed || carriers_seen.iter().any(|(_, seen)| !seen) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(remaining).unwrap_or_else(|_| {
            panic!(
                "no 5 verified deliveries from every carrier and UPS subscription within 60 s; saw:\n{}",
                banner.join("\n")
            )
        });
        assert!(!line.contains("SIGNATURE INVALID"), "{line}");
        if line.starts_with("customer  ← tracking.event") && line.ends_with("(signature ok)") {
            verified_events += 1;
            let number = line.split_whitespace().nth(3).unwrap_or_default();
            for (prefix, seen) in &mut carriers_seen {
                *seen |= number.starts_with(*prefix);
            }
        }
        assert!(
            !(line.contains("→ push") && line.contains("401")),
            "a simulated carrier was refused: {line}"
        );
        // The UPS shipments registered for subscriptions, and those the simulated UPS pushes for.
        ups_subscribed |= line.starts_with("ups       ← subscribe ")
            && line.contains("→ 200 (")
            && line.contains(" valid, 0 invalid)");
        banner.push(line);
    }
    let text = banner.join("\n");
    for what in [
        "/carriers/fedex/aiv",
        "/carriers/ups/alert",
        "/carriers/dhl/push",
        "/carriers/swiftparcel/direct",
        "dispatch webhook",
        "metrics / health",
        "ingest subscriptions",
        "kafka (embedded mock)",
    ] {
        assert!(
            text.contains(what),
            "the banner says where {what} runs:\n{text}"
        );
    }
    // /readyz reports the three services together, each ready.
    let ops = text
        .lines()
        .find(|l| l.contains("metrics / health"))
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|rest| rest.split('/').next())
        .expect("the banner names the ops address")
        .to_string();
    let until = Instant::now() + Duration::from_secs(60);
    let body = loop {
        match http_get(&ops, "/readyz") {
            (200, body) => break body,
            (_, body) => assert!(Instant::now() < until, "/readyz never 200: {body}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for part in [
        "ingest ready",
        "normalizer ready (consuming",
        "dispatcher ready",
    ] {
        assert!(body.contains(part), "/readyz names {part}: {body}");
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "gluey dev did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit: {status}");
}

/// A plain HTTP/1.0 GET on `addr`: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}
