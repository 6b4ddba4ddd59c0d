//! A sample customer endpoint for `gluey dev`: receives the webhooks, verifies each signature
//! with the Standard Webhooks reference library (independent of our signer), and prints one line
//! per delivery.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

pub async fn start(
    listen: SocketAddr,
    secret: String,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let verifier = std::sync::Arc::new(
        standardwebhooks::Webhook::new(&secret)
            .map_err(|e| anyhow::anyhow!("sample customer secret: {e:?}"))?,
    );
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: Bytes| {
            let verified = verifier.verify(&body, &headers).is_ok();
            print_delivery(&headers, &body, verified);
            if verified {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::UNAUTHORIZED
            }
        });
    tokio::spawn(gluey_ops::serve(listener, route, shutdown));
    Ok(addr)
}

fn print_delivery(headers: &HeaderMap, body: &[u8], verified: bool) {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    let check = if verified {
        "signature ok"
    } else {
        "SIGNATURE INVALID"
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        println!("customer  ← {id}: body is not JSON ({check})");
        return;
    };
    let data = &json["data"];
    let shipment = &data["shipment"];
    let event = &data["event"];
    let what = if event.is_object() {
        format!(
            "{:<20} {}/{}  [{}] {} at {}",
            event["status"].as_str().unwrap_or("?"),
            event["milestone"].as_str().unwrap_or("?"),
            event["code"].as_str().unwrap_or("?"),
            event["carrier_code"].as_str().unwrap_or("?"),
            event["location"]["city"].as_str().unwrap_or(""),
            event["occurred_at"].as_str().unwrap_or("?"),
        )
    } else {
        format!(
            "eta → {}",
            data["update"]["new_eta"].as_str().unwrap_or("none")
        )
    };
    println!(
        "customer  ← {:<24} {} seq {:>2}  {}  ({check})",
        json["type"].as_str().unwrap_or("?"),
        shipment["tracking_number"].as_str().unwrap_or("?"),
        data["sequence"].as_i64().unwrap_or(0),
        what,
    );
}
