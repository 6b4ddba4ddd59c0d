//! `gluey ingest webhook` as its own process on a real Kafka-protocol broker, pushed to by the
//! simulated carriers over HTTP: every route (FedEx AIV, UPS Track Alert, DHL push, a direct
//! integrator) stores a good push once and refuses a bad, missing or tampered credential; direct
//! deliveries must be fresh and are stored once per `webhook-id`; every route bounds size, type
//! and rate, following config reloads; a broker outage is answered 503 and nothing accepted is
//! lost or doubled. Metrics count every push by carrier, and every refusal by reason.

use crate::support;

use std::collections::{BTreeMap, HashMap};

use crate::support::carriers::{
    self, Scheme, DIRECT_CARRIER, DIRECT_SECRET, DIRECT_SECRET_NEXT, SCHEMES,
};
use crate::support::pipeline::Pipeline;
use crate::support::{topics, Service};
use gluey::dev::carrier_simulator::standard_webhooks_headers;
use gluey_contract::{RawEnvelope, Route};
use rdkafka::Message;

/// Status, `Retry-After` and JSON body of an answer.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, serde_json::Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, response.json().await.unwrap())
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

/// The value of one sample in Prometheus text, 0 when absent (labels in alphabetical order).
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    let labels = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    let prefix = format!("{name}{{{labels}}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Refusals expected per (carrier, reason), compared with the metric when the test ends.
#[derive(Default)]
struct Tally {
    rejected: BTreeMap<(&'static str, &'static str), u64>,
    sent: HashMap<&'static str, u64>,
}

impl Tally {
    fn refused(&mut self, scheme: Scheme, reason: &'static str) {
        *self.rejected.entry((scheme.carrier(), reason)).or_default() += 1;
    }

    fn sent(&mut self, scheme: Scheme) {
        *self.sent.entry(scheme.carrier()).or_default() += 1;
    }

    fn check(&self, metrics: &str) {
        for ((carrier, reason), n) in &self.rejected {
            assert_eq!(
                sample(
                    metrics,
                    "ingest_webhook_rejected_total",
                    &[("carrier", carrier), ("reason", reason)]
                ),
                *n,
                "{carrier} refusals for {reason}:\n{metrics}"
            );
        }
        for (carrier, n) in &self.sent {
            assert_eq!(
                sample(
                    metrics,
                    "ingest_webhook_received_total",
                    &[("carrier", carrier)]
                ),
                *n,
                "{carrier} pushes received:\n{metrics}"
            );
        }
    }
}

/// Every raw record currently on the topic, by shipment key; fails on a key seen twice.
async fn raw_records_once(p: &Pipeline, at_least: i64) -> HashMap<String, RawEnvelope> {
    let messages = topics::read_all_async(p.broker.bootstrap(), &p.topics().raw(), at_least).await;
    let mut by_key = HashMap::new();
    for (message, envelope) in messages
        .iter()
        .zip(topics::decode_all::<RawEnvelope>(&messages).await)
    {
        let key = envelope.shipment_key.clone().expect("keyed by shipment");
        assert_eq!(
            message.key(),
            Some(key.as_bytes()),
            "kafka key is the shipment key"
        );
        assert!(
            by_key.insert(key.clone(), envelope).is_none(),
            "{key} stored twice"
        );
    }
    by_key
}

fn assert_no_secret_in(service: &Service) {
    let log = service.log();
    for secret in carriers::SECRETS {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_stores_a_good_push_once_and_refuses_bad_or_missing_credentials() {
    let p = Pipeline::builder("schemes")
        .config(&carriers::config_text(&SCHEMES, None))
        .start();
    let mut ingest = p.ingest();
    ingest.start().await;
    let mut tally = Tally::default();
    // shipment key → (scheme, body, request id) of every push answered 2xx
    let mut accepted = HashMap::new();
    for scheme in SCHEMES {
        let client = scheme.client(p.ingest_port);
        // Good pushes, one with each secret of the rotation in progress.
        for (n, next) in [(1, false), (2, true)] {
            let body = scheme.payload(n);
            let headers = scheme.credentials(next).headers(&body);
            let (status, _, json) = answer(client.post(&body, &headers).await.unwrap()).await;
            tally.sent(scheme);
            assert_eq!(status, 200, "{scheme:?} with secret {n}: {json}");
            assert_eq!(json["status"], "accepted");
            assert_eq!(json["records"], 1);
            let request_id = json["request_id"].as_str().unwrap().to_string();
            accepted.insert(scheme.shipment_key(n), (scheme, body, request_id));
        }

        let body = scheme.payload(3);
        let (wrong, reason) = scheme.wrong_credentials();
        let (status, _, json) =
            answer(client.post(&body, &wrong.headers(&body)).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, reason);
        assert_eq!(status, 401, "{scheme:?} wrong credential: {json}");
        assert!(
            json["error"].as_str().unwrap().contains("does not match"),
            "{json}"
        );

        let good = scheme.credentials(false).headers(&body);
        for (header, reason) in scheme.credential_headers() {
            let (status, _, json) =
                answer(client.post(&body, &without(&good, header)).await.unwrap()).await;
            tally.sent(scheme);
            tally.refused(scheme, reason);
            assert_eq!(status, 401, "{scheme:?} without {header}: {json}");
            assert!(
                json["error"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains(header),
                "{json}"
            );
        }
        let (status, _, _) = answer(client.post(&body, &[]).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, scheme.credential_headers()[0].1);
        assert_eq!(status, 401, "{scheme:?} without any credential");

        if scheme.signs_body() {
            let tampered = [&body[..], b" "].concat();
            let (status, _, json) = answer(client.post(&tampered, &good).await.unwrap()).await;
            tally.sent(scheme);
            tally.refused(scheme, "signature_mismatch");
            assert_eq!(status, 401, "{scheme:?} tampered body: {json}");
        }
    }

    // Exactly the accepted pushes are on the raw topic, once each, byte for byte, with their
    // source reference and trace.
    let mut stored = raw_records_once(&p, accepted.len() as i64).await;
    assert_eq!(
        stored.len(),
        accepted.len(),
        "only accepted pushes are stored"
    );
    for (key, (scheme, body, request_id)) in &accepted {
        let envelope = stored
            .remove(key)
            .unwrap_or_else(|| panic!("{key} not stored"));
        assert_eq!(envelope.carrier, scheme.carrier());
        assert_eq!(envelope.format, scheme.format());
        assert_eq!(envelope.route, Route::Webhook);
        assert_eq!(&envelope.payload, body, "raw bytes untouched");
        assert_eq!(envelope.source.request_id.as_ref(), Some(request_id));
        assert_eq!(envelope.content_type.as_deref(), Some("application/json"));
        assert!(
            gluey_ops::trace::is_valid_traceparent(&envelope.trace_id),
            "{}",
            envelope.trace_id
        );
    }

    let metrics = ingest.metrics().await;
    tally.check(&metrics);
    for scheme in SCHEMES {
        let carrier = scheme.carrier();
        assert_eq!(
            sample(
                &metrics,
                "ingest_records_produced_total",
                &[("carrier", carrier), ("route", "webhook")]
            ),
            2,
            "{carrier} produced:\n{metrics}"
        );
        assert_eq!(
            sample(
                &metrics,
                "ingest_webhook_requests_total",
                &[("carrier", carrier), ("outcome", "accepted")]
            ),
            2
        );
    }
    assert_no_secret_in(&ingest);
    let log = ingest.log();
    for scheme in SCHEMES {
        assert!(
            !log.contains(&scheme.tracking_number(1)),
            "no body content in the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_deliveries_must_be_fresh_and_are_stored_once_per_webhook_id() {
    // Only the direct route: ingest starts with any one carrier, and the others answer 404.
    let text = format!(
        "[carriers.direct]\ntimestamp_tolerance = \"60s\"\n\n{}",
        Scheme::Direct.config_section(None)
    );
    let p = Pipeline::builder("direct").config(&text).start();
    let mut ingest = p.ingest();
    ingest.start().await;
    let client = Scheme::Direct.client(p.ingest_port);
    let now = || chrono::Utc::now().timestamp();
    let send = |body: Vec<u8>, headers: Vec<(String, String)>| {
        let client = client.clone();
        async move { answer(client.post(&body, &headers).await.unwrap()).await }
    };

    let body = Scheme::Direct.payload(1);
    let stale = standard_webhooks_headers(DIRECT_SECRET, "msg_stale", now() - 120, &body);
    let (status, _, json) = send(body.clone(), stale).await;
    assert_eq!(status, 401);
    assert_eq!(
        json["error"],
        "webhook-timestamp is more than 60s in the past"
    );
    let future = standard_webhooks_headers(DIRECT_SECRET, "msg_future", now() + 120, &body);
    let (status, _, json) = send(body.clone(), future).await;
    assert_eq!(status, 401);
    assert_eq!(
        json["error"],
        "webhook-timestamp is more than 60s in the future"
    );

    // Accepted once; the same request replayed, and the sender's retry (new timestamp, signed
    // with the other secret of the rotation), are answered 2xx and store nothing.
    let first = standard_webhooks_headers(DIRECT_SECRET, "msg_1", now(), &body);
    let (status, _, json) = send(body.clone(), first.clone()).await;
    assert_eq!((status, &json["records"]), (200, &1.into()), "{json}");
    let (status, _, json) = send(body.clone(), first).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"], "already accepted");
    assert_eq!(json["records"], 0);
    let retry = standard_webhooks_headers(DIRECT_SECRET_NEXT, "msg_1", now() + 1, &body);
    let (status, _, json) = send(body.clone(), retry).await;
    assert_eq!((status, &json["records"]), (200, &0.into()), "{json}");

    // A refused delivery is not remembered: its id is stored when it comes back valid.
    let body2 = Scheme::Direct.payload(2);
    let valid = standard_webhooks_headers(DIRECT_SECRET, "msg_stale", now(), &body2);
    let (status, _, json) = send(body2, valid).await;
    assert_eq!((status, &json["records"]), (200, &1.into()), "{json}");

    // The same delivery sent six times at once is produced by exactly one of them.
    let body3 = Scheme::Direct.payload(3);
    let concurrent = standard_webhooks_headers(DIRECT_SECRET, "msg_concurrent", now(), &body3);
    let mut at_once = tokio::task::JoinSet::new();
    for _ in 0..6 {
        at_once.spawn(send(body3.clone(), concurrent.clone()));
    }
    let answers = at_once.join_all().await;
    assert!(
        answers.iter().all(|(status, _, _)| *status == 200),
        "{answers:?}"
    );
    let produced: u64 = answers
        .iter()
        .map(|(_, _, json)| json["records"].as_u64().unwrap())
        .sum();
    assert_eq!(produced, 1, "{answers:?}");

    // A push about several shipments becomes one raw record per shipment.
    let batch = Scheme::Direct.batch_payload(&[4, 5, 6]);
    let headers = standard_webhooks_headers(DIRECT_SECRET, "msg_batch", now(), &batch);
    let (status, _, json) = send(batch, headers).await;
    assert_eq!((status, &json["records"]), (200, &3.into()), "{json}");

    let stored = raw_records_once(&p, 6).await;
    let mut keys: Vec<&String> = stored.keys().collect();
    keys.sort();
    let expected: Vec<String> = (1..=6).map(|n| Scheme::Direct.shipment_key(n)).collect();
    assert_eq!(keys, expected.iter().collect::<Vec<_>>());
    let piece = &stored[&Scheme::Direct.shipment_key(5)];
    let piece: serde_json::Value = serde_json::from_slice(&piece.payload).unwrap();
    assert_eq!(piece["shipments"].as_array().unwrap().len(), 1);
    assert_eq!(
        piece["shipments"][0]["tracking_number"],
        Scheme::Direct.tracking_number(5)
    );

    // Routes left out of the config answer 404 and say why.
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", p.ingest_port);
    for (path, says) in [
        ("/carriers/fedex/aiv", "carriers.fedex is not configured"),
        ("/carriers/ups/alert", "carriers.ups is not configured"),
        ("/carriers/dhl/push", "carriers.dhl is not configured"),
        (
            "/carriers/somebody/direct",
            "direct integrator is not configured",
        ),
        ("/carriers/fedex/track", "no such endpoint"),
    ] {
        let response = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, _, json) = answer(response).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            json["error"].as_str().unwrap().contains(says),
            "{path}: {json}"
        );
    }

    let metrics = ingest.metrics().await;
    let carrier = ("carrier", DIRECT_CARRIER);
    for (reason, n) in [("timestamp_too_old", 1), ("timestamp_too_new", 1)] {
        assert_eq!(
            sample(
                &metrics,
                "ingest_webhook_rejected_total",
                &[carrier, ("reason", reason)]
            ),
            n,
            "{reason}:\n{metrics}"
        );
    }
    assert_eq!(
        sample(
            &metrics,
            "ingest_webhook_requests_total",
            &[carrier, ("outcome", "duplicate")]
        ),
        7
    );
    assert_eq!(
        sample(
            &metrics,
            "ingest_records_produced_total",
            &[carrier, ("route", "webhook")]
        ),
        6
    );
    for not_configured in ["fedex", "ups", "dhl", "direct"] {
        assert_eq!(
            sample(
                &metrics,
                "ingest_webhook_rejected_total",
                &[("carrier", not_configured), ("reason", "not_configured")]
            ),
            1,
            "{not_configured}:\n{metrics}"
        );
    }
    assert_no_secret_in(&ingest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_bounds_body_size_content_type_and_rate() {
    // Smaller than the service's --max-body-bytes (65536); a token every 1000 s after a burst
    // of two, so the third push is throttled however slow the machine is.
    let limits = "{ max_body_bytes = 4096, requests_per_second = 0.001, burst = 2 }";
    let p = Pipeline::builder("limits")
        .config(&carriers::config_text(&SCHEMES, Some(limits)))
        .start();
    let mut ingest = p.ingest();
    ingest.start().await;
    let mut tally = Tally::default();
    for scheme in SCHEMES {
        let client = scheme.client(p.ingest_port);
        let big = vec![b' '; 5000];
        let (status, _, json) = answer(client.push(&big).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, "too_large");
        assert_eq!(status, 413, "{scheme:?}: {json}");
        assert_eq!(json["error"], "body larger than 4096 bytes");

        let body = scheme.payload(1);
        let mut as_text = scheme.credentials(false).headers(&body);
        as_text.push(("content-type".into(), "text/plain".into()));
        let (status, _, _) = answer(client.post(&body, &as_text).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, "content_type");
        assert_eq!(status, 415, "{scheme:?}");

        // Refusals before the limiter take no token: two pushes pass, the third is throttled.
        let (wrong, reason) = scheme.wrong_credentials();
        let (status, _, _) = answer(client.post(&body, &wrong.headers(&body)).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, reason);
        assert_eq!(status, 401);
        for n in 1..=2 {
            let (status, _, json) = answer(client.push(&scheme.payload(n)).await.unwrap()).await;
            tally.sent(scheme);
            assert_eq!(status, 200, "{scheme:?} push {n}: {json}");
        }
        let (status, retry_after, json) =
            answer(client.push(&scheme.payload(3)).await.unwrap()).await;
        tally.sent(scheme);
        tally.refused(scheme, "rate_limited");
        assert_eq!(status, 429, "{scheme:?}: {json}");
        let retry_after: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
        assert!((1..=1000).contains(&retry_after), "{retry_after}");
    }
    let stored = raw_records_once(&p, 8).await;
    assert_eq!(stored.len(), 8, "two pushes per route");
    let metrics = ingest.metrics().await;
    tally.check(&metrics);
    for scheme in SCHEMES {
        assert_eq!(
            sample(
                &metrics,
                "ingest_webhook_requests_total",
                &[("carrier", scheme.carrier()), ("outcome", "throttled")]
            ),
            1
        );
    }

    // Limits follow a SIGHUP reload: at a faster rate the throttled pushes get through.
    let relaxed = "{ max_body_bytes = 4096, requests_per_second = 1000.0, burst = 2 }";
    std::fs::write(&p.config, carriers::config_text(&SCHEMES, Some(relaxed))).unwrap();
    ingest.hangup();
    ingest.wait_for_log("config file reloaded", 1).await;
    for scheme in SCHEMES {
        let client = scheme.client(p.ingest_port);
        let body = scheme.payload(3);
        support::wait_for(
            &format!("{scheme:?} admitted under the reloaded limits"),
            support::DEADLINE,
            || {
                let (client, body) = (client.clone(), body.clone());
                async move { (client.push(&body).await.unwrap().status() == 200).then_some(()) }
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_is_answered_503_and_every_accepted_push_is_stored_once() {
    // SIGKILL the (real, single-node) broker, then start it again on the same storage.
    let p = Pipeline::builder("outage")
        .config(&carriers::config_text(&SCHEMES, None))
        .cluster(1, &[])
        .start();
    let mut ingest = p.ingest();
    ingest.start().await;
    let clients: Vec<_> = SCHEMES
        .iter()
        .map(|s| (*s, s.client(p.ingest_port)))
        .collect();
    for (scheme, client) in &clients {
        let (status, _, json) = answer(client.push(&scheme.payload(1)).await.unwrap()).await;
        assert_eq!(status, 200, "{scheme:?} before the outage: {json}");
    }

    p.broker.node("kill", 1);
    // What each carrier sent during the outage, to send again later as its retry.
    let mut refused = Vec::new();
    for (scheme, client) in &clients {
        let body = scheme.payload(2);
        let headers = scheme.credentials(false).headers(&body);
        let (status, retry_after, json) = answer(client.post(&body, &headers).await.unwrap()).await;
        assert_eq!(status, 503, "{scheme:?} during the outage: {json}");
        assert_eq!(retry_after.as_deref(), Some("7"));
        refused.push((*scheme, body, headers));
    }
    p.broker.node("restart", 1);

    // The carriers retry until accepted; a direct retry keeps its webhook-id (with a fresh
    // timestamp) and is stored, since the refused attempt was never remembered.
    for (scheme, body, headers) in &refused {
        let scheme = *scheme;
        let client = scheme.client(p.ingest_port);
        let id = headers
            .iter()
            .find(|(n, _)| n == "webhook-id")
            .map(|(_, v)| v.clone());
        let json = support::wait_for(
            &format!("{scheme:?}'s retry accepted after the outage"),
            support::DEADLINE,
            || {
                let (client, body, id) = (client.clone(), body.clone(), id.clone());
                async move {
                    let headers = match &id {
                        Some(id) => standard_webhooks_headers(
                            DIRECT_SECRET,
                            id,
                            chrono::Utc::now().timestamp(),
                            &body,
                        ),
                        None => scheme.credentials(false).headers(&body),
                    };
                    let (status, _, json) =
                        answer(client.post(&body, &headers).await.unwrap()).await;
                    (status == 200).then_some(json)
                }
            },
        )
        .await;
        assert_eq!(json["records"], 1, "{scheme:?}'s retry is stored: {json}");
    }
    for (scheme, client) in &clients {
        let (status, _, json) = answer(client.push(&scheme.payload(3)).await.unwrap()).await;
        assert_eq!(status, 200, "{scheme:?} after the outage: {json}");
    }

    let stored = raw_records_once(&p, 12).await;
    let mut expected: Vec<String> = SCHEMES
        .iter()
        .flat_map(|s| (1..=3).map(move |n| s.shipment_key(n)))
        .collect();
    expected.sort();
    let mut keys: Vec<String> = stored.into_keys().collect();
    keys.sort();
    assert_eq!(keys, expected, "every accepted push exactly once");
    let metrics = ingest.metrics().await;
    for scheme in SCHEMES {
        assert!(
            sample(
                &metrics,
                "ingest_webhook_rejected_total",
                &[
                    ("carrier", scheme.carrier()),
                    ("reason", "kafka_unavailable")
                ]
            ) >= 1,
            "{scheme:?}:\n{metrics}"
        );
    }
}

/// A signed FedEx push of exactly `size` bytes: one real scan, padded with JSON whitespace.
fn fedex_push_of(size: usize) -> Vec<u8> {
    let mut body = crate::support::pipeline::history_payload(
        "794600000555",
        &[("OD", "On FedEx vehicle for delivery")],
        1,
    );
    let close = body.pop().expect("a JSON object");
    assert_eq!(close, b'}');
    body.resize(size - 1, b' ');
    body.push(b'}');
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_at_the_default_limit_is_stored_and_a_larger_one_is_413_never_a_retry_loop() {
    // The default limit leaves room for the raw record under librdkafka's message.max.bytes
    // (1,000,000): with the old default (1 MiB), a push between the two was accepted for reading
    // and then refused by Kafka on every retry.
    let customer = support::Receiver::customer().await;
    let p = Pipeline::new("body-limit", &customer);
    let mut ingest = p
        .service("ingest", &["ingest", "webhook"])
        .arg("--listen", &format!("127.0.0.1:{}", p.ingest_port))
        .arg("--produce-timeout", "5s");
    ingest.start().await;
    let limit = 960 * 1024;
    for (size, want) in [(limit, 200), (limit + 1, 413), (1_000_000, 413)] {
        let body = fedex_push_of(size);
        let response = p
            .push(
                &body,
                &gluey::dev::fedex_simulator::sign(support::FEDEX_SECRET, &body),
            )
            .await;
        let (status, _, json) = answer(response).await;
        assert_eq!(status, want, "a {size}-byte push: {json}");
    }
    assert_eq!(
        topics::read_all_async(p.broker.bootstrap(), &p.topics().raw(), 1)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_limit_kafka_could_not_carry_is_refused_at_start_up() {
    let p = Pipeline::builder("body-limit-config")
        .config(&carriers::config_text(&SCHEMES, None).replace(
            "[carriers.ups]",
            "[carriers.ups]\nlimits = { max_body_bytes = 2000000 }",
        ))
        .start();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "ingest".to_string(),
            "webhook".into(),
            "--kafka-bootstrap".into(),
            p.broker.bootstrap().into(),
            "--topic-prefix".into(),
            p.prefix.clone(),
            "--config".into(),
            p.config.display().to_string(),
            "--ops-listen".into(),
            "127.0.0.1:0".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        std::process::Command::new(env!("CARGO_BIN_EXE_gluey"))
            .args(&args)
            .envs(support::carriers::environment())
            .output()
            .unwrap()
    };
    let out = run(&["--max-body-bytes", "1048576"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--max-body-bytes = 1048576")
            && err.contains("message.max.bytes = 1000000")
            && err.contains("at most 983616"),
        "{err}"
    );
    // The route's own limit is checked too, by its field.
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("carriers.ups.limits.max_body_bytes = 2000000"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_body_limit_kafka_could_not_carry_is_refused_and_the_running_one_stays() {
    let p = Pipeline::builder("body-limit-reload")
        .config(&carriers::config_text(&[Scheme::Fedex], None))
        .start();
    let mut ingest = p.ingest(); // --max-body-bytes 65536
    ingest.start().await;
    std::fs::write(
        &p.config,
        carriers::config_text(&[Scheme::Fedex], Some("{ max_body_bytes = 2000000 }")),
    )
    .unwrap();
    ingest.hangup();
    ingest
        .wait_for_log("config section refused on reload", 1)
        .await;
    assert!(
        ingest
            .log()
            .contains("carriers.fedex.limits.max_body_bytes = 2000000"),
        "{}",
        ingest.log()
    );
    // The running limit (65,536) still holds.
    let body = fedex_push_of(100_000);
    let response = p
        .push(
            &body,
            &gluey::dev::fedex_simulator::sign(support::FEDEX_SECRET, &body),
        )
        .await;
    assert_eq!(response.status(), 413);
}
