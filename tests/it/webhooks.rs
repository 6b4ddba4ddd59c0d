//! The customer-webhook dispatcher as its own process on a real Kafka-protocol broker, delivering
//! canonical records produced straight onto `tracking.events.v1` to real HTTP endpoints on
//! 127.0.0.1 that answer as each test tells them: signatures (two secrets, an expired one), the
//! retry ladder, throttling, 410, redirects, timeouts, isolation between endpoints, a SIGKILL in
//! the middle, filters, and the start-up refusal of loopback and private URLs.
//!
//! Every request every endpoint receives is verified on arrival with the `standardwebhooks` crate
//! and with the specification's check (tests/it/support/receiver.rs). Timing is only ever checked
//! from below (a retry came no earlier than the ladder allows), with `--retry-time-scale`
//! compressing hours into seconds.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::support::pipeline::Pipeline;
use crate::support::receiver::{Receiver, Reply, Request};
use crate::support::webhooks::{
    event, expiring, metric, run_to_exit, secret, update, webhook_id, with_status, Hook, FLOOR,
    LADDER,
};
use crate::support::{wait_for, CUSTOMER_SECRET, CUSTOMER_SECRET_NEXT, DEADLINE};
use gluey_contract::{CanonicalRecord, Status, UpdateType};

const EXPIRED_SECRET: &str = "whsec_YSB0aGlyZCBrZXkgdGhhdCBoYXMgZXhwaXJlZCEhISE=";

/// Long enough for anything the ladder at the chosen scale and a loaded machine can take.
const LONG: Duration = Duration::from_secs(180);

fn ids(records: &[CanonicalRecord]) -> Vec<String> {
    records.iter().map(webhook_id).collect()
}

fn scaled(d: Duration, scale: f64) -> Duration {
    d.mul_f64(scale)
}

/// The `v1,` entries of a request's `webhook-signature`.
fn signature_count(r: &Request) -> usize {
    r.header("webhook-signature")
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .count()
}

/// Asserts that attempts of one delivery (in arrival order) number 1..=n, share the webhook
/// id, and that each pause is at least `least[i]` (between attempt i+1 and i+2).
fn assert_attempts(name: &str, requests: &[Request], least: &[Duration]) {
    let timeline: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "+{:?} gluey-attempt {} answered {:?}",
                r.at - requests[0].at,
                r.header("gluey-attempt"),
                r.reply
            )
        })
        .collect();
    assert_eq!(
        requests.len(),
        least.len() + 1,
        "{name}: {} attempts, expected {}: {timeline:#?}",
        requests.len(),
        least.len() + 1
    );
    for (n, r) in requests.iter().enumerate() {
        assert_eq!(
            r.attempt(),
            n as u32 + 1,
            "{name}: gluey-attempt of request {n}"
        );
        assert_eq!(
            r.webhook_id(),
            requests[0].webhook_id(),
            "{name}: webhook-id"
        );
        assert_eq!(
            r.body, requests[0].body,
            "{name}: the body is the same each attempt"
        );
    }
    for (i, bound) in least.iter().enumerate() {
        let gap = requests[i + 1].at - requests[i].at;
        assert!(
            gap >= *bound,
            "{name}: attempt {} came {gap:?} after attempt {}, the ladder allows no less than {bound:?}",
            i + 2,
            i + 1
        );
    }
}

/// Waits until `/metrics` of `service` satisfies `check`.
async fn wait_metric(
    service: &support::Service,
    what: &str,
    deadline: Duration,
    check: impl Fn(&str) -> bool,
) -> String {
    wait_for(what, deadline, || {
        let check = &check;
        async move {
            let text = service.metrics().await;
            check(&text).then_some(text)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_signed_with_each_valid_secret_and_no_expired_one() {
    // Both secrets valid: a rotation in progress; the first request fails, so a retry is signed too.
    let rotating = Hook::start(
        "acme",
        "acme-rotating",
        Reply::Status(204),
        vec![secret(CUSTOMER_SECRET), secret(CUSTOMER_SECRET_NEXT)],
    )
    .await;
    rotating.receiver.script([Reply::Status(500)]);
    // The old secret has expired: only the new one signs.
    let expired = Hook::start(
        "acme",
        "acme-expired",
        Reply::Status(200),
        vec![
            expiring(EXPIRED_SECRET, "2020-01-01T00:00:00Z"),
            secret(CUSTOMER_SECRET),
        ],
    )
    .await;
    // Expires later: still signs.
    let later = Hook::start(
        "acme",
        "acme-later",
        Reply::Status(202),
        vec![
            secret(CUSTOMER_SECRET_NEXT),
            expiring(EXPIRED_SECRET, "2030-01-01T00:00:00Z"),
        ],
    )
    .await;
    let globex = Hook::simple("globex", "globex-main", Reply::Status(200)).await;
    let t = Pipeline::builder("wh-sign")
        .hooks(&[&rotating, &expired, &later, &globex])
        .start();
    let mut dispatcher = t.webhook_dispatcher(0.01, "5s");
    dispatcher.start().await;

    let first = event("acme", "794600000001", 1);
    let mut correction = first.clone();
    correction.revision = 2;
    correction.sequence = 3;
    if let Some(e) = correction.event.as_mut() {
        e.carrier_description = Some("Arrived at FedEx location (corrected)".into());
    }
    let acme = vec![
        first,
        event("acme", "794600000001", 2),
        correction,
        update("acme", "794600000002", 1, UpdateType::EtaChanged),
    ];
    let other = vec![event("globex", "794600000003", 1)];
    let mut nobody = event("acme", "794600000004", 1);
    nobody.customer_id = None;
    t.publish(std::slice::from_ref(&nobody)).await;
    t.publish(&acme).await;
    t.publish(&other).await;

    let acme_ids = ids(&acme);
    assert!(acme_ids[2].ends_with(".r2"));
    for hook in [&rotating, &expired, &later] {
        hook.receiver
            .wait_delivered(&hook.id, &acme_ids, DEADLINE)
            .await;
    }
    globex
        .receiver
        .wait_delivered(&globex.id, &ids(&other), DEADLINE)
        .await;

    let by_id: HashMap<String, &CanonicalRecord> =
        acme.iter().map(|r| (webhook_id(r), r)).collect();
    let expected_types = [
        "tracking.event",
        "tracking.event",
        "tracking.event.corrected",
        "shipment.eta_changed",
    ];
    for (hook, secrets) in [(&rotating, 2), (&expired, 1), (&later, 2)] {
        let requests = hook.receiver.requests();
        for r in &requests {
            let record = by_id
                .get(r.webhook_id())
                .unwrap_or_else(|| panic!("{}: unexpected webhook-id {}", hook.id, r.webhook_id()));
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/hook", "the endpoint's own path");
            assert_eq!(r.header("content-type"), "application/json");
            assert_eq!(r.header("traceparent"), record.trace_id, "{}", hook.id);
            assert_eq!(
                signature_count(r),
                secrets,
                "{}: one v1 signature per valid secret: {}",
                hook.id,
                r.header("webhook-signature")
            );
            let json = r.json();
            let n = acme_ids.iter().position(|id| id == r.webhook_id()).unwrap();
            assert_eq!(json["type"], expected_types[n], "{}", hook.id);
            assert_eq!(json["version"], 1);
            assert_eq!(json["data"]["id"], record.record_id);
            assert_eq!(json["data"]["revision"], record.revision);
            assert_eq!(json["data"]["sequence"], record.sequence);
            assert_eq!(json["data"]["shipment"]["customer_id"], "acme");
            assert_eq!(json["data"]["shipment"]["key"], record.shipment_key);
        }
        let retried: Vec<&str> = acme_ids
            .iter()
            .filter(|id| hook.receiver.requests_for(id).len() > 1)
            .map(String::as_str)
            .collect();
        if hook.id == rotating.id {
            assert_eq!(retried.len(), 1, "the one 500 is retried once");
            let attempts = hook.receiver.requests_for(retried[0]);
            assert_attempts(
                "rotating",
                &attempts,
                &[scaled(LADDER[0], 0.01).mul_f64(0.8)],
            );
        } else {
            assert!(retried.is_empty(), "{}: retried {retried:?}", hook.id);
            assert!(requests.iter().all(|r| r.attempt() == 1));
        }
        assert_eq!(requests.iter().filter(|r| r.delivered()).count(), 4);
    }
    let globex_requests = globex.receiver.requests();
    assert_eq!(globex_requests.len(), 1);
    assert_eq!(
        globex_requests[0].json()["data"]["shipment"]["customer_id"],
        "globex"
    );
    for hook in [&rotating, &expired, &later, &globex] {
        assert!(
            hook.receiver.requests_for(&nobody.record_id).is_empty(),
            "a record without customer goes nowhere"
        );
        hook.receiver.assert_all_signed(&hook.id);
    }
    wait_metric(&dispatcher, "delivery metrics", DEADLINE, |m| {
        metric(
            m,
            "dispatch_webhook_delivered_total",
            &[("customer", "acme"), ("endpoint", "acme-rotating")],
        ) == 4.0
            && metric(
                m,
                "dispatch_webhook_attempts_total",
                &[("customer", "acme"), ("endpoint", "acme-rotating")],
            ) == 5.0
            && metric(
                m,
                "dispatch_webhook_delivered_total",
                &[("customer", "globex"), ("endpoint", "globex-main")],
            ) == 1.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_along_the_ladder() {
    // Endpoint k fails k times, then answers 204: k + 1 attempts, each pause at least 80 % of
    // its rung (jitter is ±20 %). The fifth rung is 5 h, 18 s at this scale.
    let scale = 0.001;
    let mut hooks = Vec::new();
    for k in 1..=5usize {
        let hook = Hook::simple("acme", &format!("acme-fails-{k}"), Reply::Status(204)).await;
        hook.receiver.script(vec![Reply::Status(500); k]);
        hooks.push(hook);
    }
    let t = Pipeline::builder("wh-ladder")
        .hooks(&hooks.iter().collect::<Vec<_>>())
        .start();
    let mut dispatcher = t.webhook_dispatcher(scale, "5s");
    dispatcher.start().await;
    let record = event("acme", "794600000010", 1);
    t.publish(std::slice::from_ref(&record)).await;
    let id = webhook_id(&record);

    for (k, hook) in (1..=5usize).zip(&hooks) {
        hook.receiver
            .wait_delivered(&hook.id, std::slice::from_ref(&id), LONG)
            .await;
        let least: Vec<Duration> = LADDER[..k]
            .iter()
            .map(|rung| scaled(*rung, scale).mul_f64(0.8))
            .collect();
        assert_attempts(&hook.id, &hook.receiver.requests_for(&id), &least);
        assert_eq!(hook.receiver.requests().len(), k + 1);
        hook.receiver.assert_all_signed(&hook.id);
    }
    wait_metric(&dispatcher, "ladder metrics", DEADLINE, |m| {
        (1..=5).all(|k| {
            let endpoint = format!("acme-fails-{k}");
            let labels = [("customer", "acme"), ("endpoint", endpoint.as_str())];
            metric(m, "dispatch_webhook_attempts_total", &labels) == (k + 1) as f64
                && metric(m, "dispatch_webhook_delivered_total", &labels) == 1.0
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failed_attempts_dead_letter_the_delivery() {
    // The whole ladder (about 75 h nominal) in about 27 s.
    let scale = 0.0001;
    let failing = Hook::simple("acme", "acme-down", Reply::Status(500)).await;
    let t = Pipeline::builder("wh-ten").hooks(&[&failing]).start();
    let mut dispatcher = t.webhook_dispatcher(scale, "5s");
    dispatcher.start().await;
    let record = event("acme", "794600000020", 1);
    let values = t.publish(std::slice::from_ref(&record)).await;
    let id = webhook_id(&record);

    let letters = t.dead_letters(1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.endpoint, "acme-down");
    assert_eq!(letter.attempt, "10");
    assert!(!letter.reason.is_empty());
    assert_eq!(
        letter.value, values[0],
        "the value is the canonical record's bytes"
    );
    assert_eq!(letter.record, record);

    let requests = failing.receiver.requests();
    let least: Vec<Duration> = LADDER
        .iter()
        .map(|rung| scaled(*rung, scale).mul_f64(0.8))
        .collect();
    assert_attempts("acme-down", &requests, &least);
    assert_eq!(requests[0].webhook_id(), id);
    failing.receiver.assert_all_signed("acme-down");
    let m = wait_metric(&dispatcher, "dead-letter metrics", DEADLINE, |m| {
        metric(
            m,
            "dispatch_webhook_deadlettered_total",
            &[("endpoint", "acme-down")],
        ) == 1.0
    })
    .await;
    assert_eq!(
        metric(
            &m,
            "dispatch_webhook_attempts_total",
            &[("customer", "acme"), ("endpoint", "acme-down")]
        ),
        10.0
    );
    assert_eq!(
        metric(
            &m,
            "dispatch_webhook_delivered_total",
            &[("endpoint", "acme-down")]
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_gone_redirects_and_timeouts_are_answered_as_specified() {
    // At this scale the 60 s floor is 3 s and the first rung 0.25 s.
    let scale = 0.05;
    let floor = scaled(FLOOR, scale);
    let witness = Hook::simple("acme", "acme-witness", Reply::Status(204)).await;
    let gone = Hook::simple("acme", "acme-gone", Reply::Status(410)).await;
    let throttled = Hook::simple("acme", "acme-throttled", Reply::Status(204)).await;
    // Retry-After: 100 s, 5 s at this scale, inside [floor, 2 × floor].
    throttled.receiver.script([Reply::RetryAfter(429, 100)]);
    let bad_gateway = Hook::simple("acme", "acme-502", Reply::Status(204)).await;
    bad_gateway.receiver.script([Reply::Status(502)]);
    let gateway_timeout = Hook::simple("acme", "acme-504", Reply::Status(204)).await;
    gateway_timeout.receiver.script([Reply::Status(504)]);
    let hanging = Hook::simple("acme", "acme-hang", Reply::Status(204)).await;
    hanging.receiver.script([Reply::Hang]);
    let to_metadata = Hook::simple("acme", "acme-to-metadata", Reply::Status(204)).await;
    to_metadata.receiver.script([Reply::Redirect(
        "http://169.254.169.254/latest/meta-data/".into(),
    )]);
    // A redirect to a place the test can watch (loopback is allowed in tests).
    let trap = Receiver::start(
        Reply::Status(200),
        support::receiver::Signing::by(&[CUSTOMER_SECRET]),
    )
    .await;
    let to_trap = Hook::simple("acme", "acme-to-trap", Reply::Status(204)).await;
    to_trap
        .receiver
        .script([Reply::Redirect(format!("{}/stolen", trap.url()))]);
    let hooks = [
        &witness,
        &gone,
        &throttled,
        &bad_gateway,
        &gateway_timeout,
        &hanging,
        &to_metadata,
        &to_trap,
    ];
    let t = Pipeline::builder("wh-answers").hooks(&hooks).start();
    let mut dispatcher = t.webhook_dispatcher(scale, "1s");
    dispatcher.start().await;

    let first = event("acme", "794600000030", 1);
    t.publish(std::slice::from_ref(&first)).await;
    let first_id = webhook_id(&first);
    for hook in hooks {
        wait_for(&format!("{} first request", hook.id), DEADLINE, || {
            let n = hook.receiver.requests_for(&first_id).len();
            async move { (n >= 1).then_some(()) }
        })
        .await;
    }
    wait_metric(&dispatcher, "the 410 endpoint disabled", DEADLINE, |m| {
        metric(
            m,
            "dispatch_webhook_endpoint_disabled",
            &[("endpoint", "acme-gone")],
        ) == 1.0
    })
    .await;

    // Later records: nothing more for the retired endpoint, all dead-lettered.
    let later = vec![
        event("acme", "794600000030", 2),
        event("acme", "794600000031", 1),
    ];
    t.publish(&later).await;
    let all = [vec![first.clone()], later.clone()].concat();
    let all_ids = ids(&all);
    for hook in hooks.iter().filter(|h| h.id != gone.id) {
        hook.receiver.wait_delivered(&hook.id, &all_ids, LONG).await;
    }
    let letters = t.dead_letters(3).await;
    let gone_letters: Vec<_> = letters
        .iter()
        .filter(|l| l.endpoint == "acme-gone")
        .collect();
    assert_eq!(
        gone_letters.len(),
        3,
        "one dead letter per record: {letters:?}"
    );
    assert_eq!(
        gone_letters
            .iter()
            .map(|l| webhook_id(&l.record))
            .collect::<HashSet<_>>(),
        all_ids.iter().cloned().collect::<HashSet<_>>()
    );
    for letter in &gone_letters {
        assert!(
            ["endpoint_disabled", "gone"].contains(&letter.reason.as_str()),
            "reason {:?}",
            letter.reason
        );
    }
    let gone_requests = gone.receiver.requests();
    assert_eq!(
        gone_requests.len(),
        1,
        "410 ends deliveries to the endpoint"
    );
    assert_eq!(gone_requests[0].webhook_id(), first_id);

    // 429 with Retry-After: the retry waits what the endpoint asked (scaled).
    let attempts = throttled.receiver.requests_for(&first_id);
    assert_attempts("429", &attempts, &[scaled(Duration::from_secs(100), scale)]);
    // 502 and 504: at least the floor.
    for hook in [&bad_gateway, &gateway_timeout] {
        assert_attempts(&hook.id, &hook.receiver.requests_for(&first_id), &[floor]);
    }
    // Timeout: the client gives up after --attempt-timeout (not scaled), then waits the floor.
    let attempts = hanging.receiver.requests_for(&first_id);
    assert_eq!(attempts[0].reply, Reply::Hang);
    let closed = attempts[0]
        .closed_at
        .expect("the client closed the hung request");
    assert!(
        closed - attempts[0].at >= Duration::from_millis(900),
        "the attempt timeout of 1 s is not scaled: closed after {:?}",
        closed - attempts[0].at
    );
    assert_attempts(
        "timeout",
        &attempts,
        &[Duration::from_secs(1) + floor.mul_f64(0.9)],
    );
    assert!(
        attempts[1].at - closed >= floor.mul_f64(0.9),
        "retried {:?} after the timeout",
        attempts[1].at - closed
    );
    // Redirects: a failure, retried on the ladder; the Location is never fetched.
    for hook in [&to_metadata, &to_trap] {
        let attempts = hook.receiver.requests_for(&first_id);
        assert!(
            matches!(attempts[0].reply, Reply::Redirect(_)),
            "{}: first answer {:?}",
            hook.id,
            attempts[0].reply
        );
        assert_attempts(
            &hook.id,
            &attempts,
            &[scaled(LADDER[0], scale).mul_f64(0.8)],
        );
    }
    assert!(trap.requests().is_empty(), "the redirect was followed");

    for hook in hooks {
        hook.receiver.assert_all_signed(&hook.id);
    }
    let m = wait_metric(&dispatcher, "attempt metrics", DEADLINE, |m| {
        hooks.iter().all(|hook| {
            metric(
                m,
                "dispatch_webhook_attempts_total",
                &[("customer", "acme"), ("endpoint", &hook.id)],
            ) == hook.receiver.requests().len() as f64
        })
    })
    .await;
    for hook in hooks.iter().filter(|h| h.id != gone.id) {
        assert_eq!(
            metric(
                &m,
                "dispatch_webhook_delivered_total",
                &[("customer", "acme"), ("endpoint", &hook.id)]
            ),
            3.0,
            "{}",
            hook.id
        );
    }
    assert_eq!(
        metric(
            &m,
            "dispatch_webhook_deadlettered_total",
            &[("endpoint", "acme-gone")]
        ),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_and_a_failing_endpoint_do_not_hold_up_a_healthy_one() {
    let scale = 0.01;
    let n = 50;
    let hanging = Hook::simple("acme", "acme-hang", Reply::Hang)
        .await
        .setting("max_concurrency = 3");
    let healthy = Hook::simple("acme", "acme-healthy", Reply::Status(204)).await;
    let failing = Hook::simple("globex", "globex-500", Reply::Status(500)).await;
    let t = Pipeline::builder("wh-isolation")
        .hooks(&[&hanging, &healthy, &failing])
        .start();
    let mut dispatcher = t.webhook_dispatcher(scale, "10s");
    dispatcher.start().await;

    let mut acme = Vec::new();
    let mut globex = Vec::new();
    for i in 0..n {
        // Interleaved on shared shipments, so both customers' records share partitions.
        let number = format!("7946000001{:02}", i % 10);
        acme.push(event("acme", &number, i as i64 * 2 + 1));
        globex.push(event("globex", &number, i as i64 * 2 + 2));
    }
    let interleaved: Vec<CanonicalRecord> = acme
        .iter()
        .zip(&globex)
        .flat_map(|(a, g)| [a.clone(), g.clone()])
        .collect();
    t.publish(&interleaved).await;
    let (acme_ids, globex_ids) = (ids(&acme), ids(&globex));

    healthy
        .receiver
        .wait_delivered("healthy", &acme_ids, DEADLINE)
        .await;
    let healthy_done = *healthy.receiver.delivered().values().max().unwrap();
    wait_for("a request to the hanging endpoint", DEADLINE, || {
        let n = hanging.receiver.requests().len();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    // Both recover; the requests already hanging stay hung until the client gives up.
    hanging.receiver.set_default(Reply::Status(204));
    failing.receiver.set_default(Reply::Status(204));

    let first_close = wait_for("the client closing a hung request", DEADLINE, || {
        let closes: Vec<Instant> = hanging
            .receiver
            .requests()
            .iter()
            .filter_map(|r| r.closed_at)
            .collect();
        async move { closes.into_iter().min() }
    })
    .await;
    assert!(
        healthy_done < first_close,
        "the healthy endpoint had all {n} only {:?} after the first hung request timed out",
        healthy_done - first_close
    );
    // Until then no hung request had ended, so all that had arrived were open together.
    let open_together = hanging
        .receiver
        .requests()
        .iter()
        .filter(|r| r.at + Duration::from_millis(100) < first_close)
        .count();
    assert!(
        (1..=3).contains(&open_together),
        "{open_together} requests open at once to an endpoint with max_concurrency = 3"
    );

    hanging
        .receiver
        .wait_delivered("hanging, recovered", &acme_ids, LONG)
        .await;
    failing
        .receiver
        .wait_delivered("failing, recovered", &globex_ids, LONG)
        .await;
    let acme_set: HashSet<&String> = acme_ids.iter().collect();
    let globex_set: HashSet<&String> = globex_ids.iter().collect();
    for (hook, expected) in [
        (&hanging, &acme_set),
        (&healthy, &acme_set),
        (&failing, &globex_set),
    ] {
        let delivered = hook.receiver.delivered();
        assert_eq!(delivered.len(), n, "{}", hook.id);
        for r in hook.receiver.requests() {
            assert!(
                expected.contains(&r.webhook_id().to_string()),
                "{} got {}",
                hook.id,
                r.webhook_id()
            );
        }
        hook.receiver.assert_all_signed(&hook.id);
    }
    assert_eq!(
        healthy.receiver.requests().len(),
        n,
        "the healthy one: once each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_lose_no_delivery() {
    let n = 300;
    let flaky = Hook::simple("acme", "acme-flaky", Reply::Status(200))
        .await
        .setting("rate_limit = 50");
    flaky.receiver.fail_randomly(0.2, 500, 20240425);
    let t = Pipeline::builder("wh-sigkill").hooks(&[&flaky]).start();
    let mut dispatcher = t.webhook_dispatcher(0.001, "5s");
    dispatcher.start().await;

    let records: Vec<CanonicalRecord> = (0..n)
        .map(|i| {
            event(
                "acme",
                &format!("7946000002{:02}", i % 30),
                (i / 30) as i64 + 1,
            )
        })
        .collect();
    t.publish(&records).await;
    let all_ids = ids(&records);

    let delivered_at_kill = wait_for("about 100 delivered", DEADLINE, || {
        let delivered = flaky.receiver.delivered().len();
        async move { (delivered >= 100).then_some(delivered) }
    })
    .await;
    dispatcher.kill();
    assert!(
        delivered_at_kill < n,
        "everything was delivered before the kill; nothing left to lose"
    );
    dispatcher.start().await;
    flaky
        .receiver
        .wait_delivered("after the restart", &all_ids, LONG)
        .await;

    let by_id: HashMap<String, &CanonicalRecord> =
        records.iter().map(|r| (webhook_id(r), r)).collect();
    let mut data: HashMap<String, serde_json::Value> = HashMap::new();
    let mut duplicates = 0;
    for r in flaky.receiver.requests() {
        let record = by_id
            .get(r.webhook_id())
            .unwrap_or_else(|| panic!("unknown webhook-id {}", r.webhook_id()));
        let json = r.json();
        assert_eq!(json["data"]["id"], record.record_id);
        match data.get(r.webhook_id()) {
            Some(seen) => {
                duplicates += 1;
                assert_eq!(
                    &json["data"],
                    seen,
                    "a repeat of {} differs in data",
                    r.webhook_id()
                );
            }
            None => {
                data.insert(r.webhook_id().to_string(), json["data"].clone());
            }
        }
    }
    assert_eq!(data.len(), n);
    assert!(
        duplicates > 0,
        "a fifth of the requests failed, so some were repeated"
    );
    flaky.receiver.assert_all_signed("acme-flaky");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_private_endpoints_are_refused_at_start_up() {
    let p = Pipeline::builder("wh-refuse").start();
    let (prefix, dir, broker) = (p.prefix.clone(), p.dir.clone(), &p.broker);
    let cases: [(&str, &str, bool, &str); 4] = [
        (
            "loopback",
            "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"http://127.0.0.1:8080/hook\"\nsecrets = [\"SECRET\"]\n",
            false,
            "customers[0].webhooks[0].url",
        ),
        (
            "private",
            "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"http://10.0.0.1/hook\"\nsecrets = [\"SECRET\"]\n",
            false,
            "customers[0].webhooks[0].url",
        ),
        (
            "private-with-loopback-allowed",
            "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"http://10.0.0.1/hook\"\nsecrets = [\"SECRET\"]\n",
            true,
            "customers[0].webhooks[0].url",
        ),
        (
            "second-customer-second-endpoint",
            "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"https://93.184.215.14/hook\"\nsecrets = [\"SECRET\"]\n\n[[customers]]\nid = \"globex\"\n[[customers.webhooks]]\nurl = \"https://93.184.215.14/hook\"\nsecrets = [\"SECRET\"]\n[[customers.webhooks]]\nurl = \"http://127.0.0.1:8080/hook\"\nsecrets = [\"SECRET\"]\n",
            false,
            "customers[1].webhooks[1].url",
        ),
    ];
    for (name, config, allow_loopback, field) in cases {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config.replace("SECRET", CUSTOMER_SECRET)).unwrap();
        let ops = format!("127.0.0.1:{}", support::free_port());
        let group = format!("{prefix}{name}");
        let mut args = vec![
            "dispatch",
            "webhook",
            "--kafka-bootstrap",
            broker.bootstrap(),
            "--topic-prefix",
            &prefix,
            "--config",
            path.to_str().unwrap(),
            "--ops-listen",
            &ops,
            "--group-id",
            &group,
        ];
        if allow_loopback {
            args.push("--allow-loopback-endpoints");
        }
        let (status, output) = run_to_exit(&args, DEADLINE).await;
        assert!(!status.success(), "{name}: started with {config}");
        assert!(
            output.contains(field),
            "{name}: the error names {field}:\n{output}"
        );
    }
    // The same loopback endpoint is accepted with the switch: the refusal above is the guard's.
    let path = dir.join("accepted.toml");
    std::fs::write(&path, cases[0].1.replace("SECRET", CUSTOMER_SECRET)).unwrap();
    let mut service = support::Service::new(
        "dispatcher",
        &["dispatch", "webhook", "--allow-loopback-endpoints"],
        broker.bootstrap(),
        &prefix,
        &path,
        &dir,
    )
    .arg("--group-id", &format!("{prefix}accepted"));
    service.start().await;
    assert!(service.terminate().success(), "{}", service.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_choose_what_each_endpoint_receives() {
    let all = Hook::simple("acme", "acme-all", Reply::Status(204)).await;
    let delivered = Hook::simple("acme", "acme-delivered", Reply::Status(204))
        .await
        .filter("statuses = [\"delivered\"]");
    let eta = Hook::simple("acme", "acme-eta", Reply::Status(204))
        .await
        .filter("types = [\"shipment.eta_changed\"]");
    let delivery_milestone = Hook::simple("acme", "acme-milestone", Reply::Status(204))
        .await
        .filter("milestones = [\"delivery\"]");
    let corrections = Hook::simple("acme", "acme-corrections", Reply::Status(204))
        .await
        .filter("types = [\"tracking.event.corrected\"]");
    let hooks = [&all, &delivered, &eta, &delivery_milestone, &corrections];
    let t = Pipeline::builder("wh-filters").hooks(&hooks).start();
    let mut dispatcher = t.webhook_dispatcher(1.0, "5s");
    dispatcher.start().await;

    let number = "794600000300";
    let in_transit = event("acme", number, 1);
    let out_for_delivery =
        with_status(event("acme", number, 2), Status::OutForDelivery, "delivery");
    let eta_changed = update("acme", number, 3, UpdateType::EtaChanged);
    let mut corrected = in_transit.clone();
    corrected.revision = 2;
    corrected.sequence = 4;
    let done = with_status(event("acme", number, 5), Status::Delivered, "delivery");
    let records = vec![
        in_transit.clone(),
        out_for_delivery.clone(),
        eta_changed.clone(),
        corrected.clone(),
        done.clone(),
    ];
    t.publish(&records).await;

    let expect = |records: &[&CanonicalRecord]| -> Vec<String> {
        records.iter().map(|r| webhook_id(r)).collect()
    };
    let expected: Vec<(&Hook, Vec<String>)> = vec![
        (&all, ids(&records)),
        (&delivered, expect(&[&done])),
        (&eta, expect(&[&eta_changed])),
        (&delivery_milestone, expect(&[&out_for_delivery, &done])),
        (&corrections, expect(&[&corrected])),
    ];
    for (hook, ids) in &expected {
        hook.receiver.wait_delivered(&hook.id, ids, DEADLINE).await;
    }
    for (hook, ids) in &expected {
        let got: HashSet<String> = hook
            .receiver
            .requests()
            .iter()
            .map(|r| r.webhook_id().to_string())
            .collect();
        assert_eq!(got, ids.iter().cloned().collect(), "{}", hook.id);
        hook.receiver.assert_all_signed(&hook.id);
    }
    let types: HashMap<String, String> = all
        .receiver
        .requests()
        .iter()
        .map(|r| {
            (
                r.webhook_id().to_string(),
                r.json()["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(types[&webhook_id(&corrected)], "tracking.event.corrected");
    assert_eq!(types[&webhook_id(&eta_changed)], "shipment.eta_changed");
    assert_eq!(types[&webhook_id(&done)], "tracking.event");
}

/// The operator's way back from a 410: the endpoint is recorded as disabled (`gluey webhooks
/// endpoints`), what it is owed is dead-lettered for it (`gluey webhooks deadletters`); once it
/// answers again, `enable` and `replay` bring every owed record, each with its original
/// `webhook-id` and a fresh ladder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_endpoint_is_enabled_again_and_its_dead_letters_replayed() {
    let gone = Hook::simple("acme", "acme-retired", Reply::Status(410)).await;
    let t = Pipeline::builder("wh-operator").hooks(&[&gone]).start();
    let mut dispatcher = t.webhook_dispatcher(0.001, "5s");
    dispatcher.start().await;
    let records: Vec<CanonicalRecord> = (1..=3)
        .map(|n| event("acme", &format!("79460000009{n}"), 1))
        .collect();
    let ids: Vec<String> = records.iter().map(webhook_id).collect();
    // The first meets the 410; the others come once the endpoint is known to be gone.
    t.publish(&records[..1]).await;
    wait_metric(&dispatcher, "the 410 endpoint disabled", DEADLINE, |m| {
        metric(
            m,
            "dispatch_webhook_endpoint_disabled",
            &[("endpoint", "acme-retired")],
        ) == 1.0
    })
    .await;
    t.publish(&records[1..]).await;
    let letters = t.dead_letters(3).await;
    assert_eq!(letters.len(), 3, "{letters:?}");
    let mut lettered: Vec<String> = letters.iter().map(|l| webhook_id(&l.record)).collect();
    lettered.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(lettered, expected, "every owed record is dead-lettered");
    assert_eq!(
        gone.receiver.requests().len(),
        1,
        "after the 410 nothing more is attempted"
    );

    let kafka = [
        "--kafka-bootstrap",
        t.broker.bootstrap(),
        "--topic-prefix",
        &t.prefix,
    ];
    let gluey = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&kafka);
        all.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out) = run_to_exit(&refs, DEADLINE).await;
        assert!(status.success(), "gluey {args:?}: {out}");
        out
    };
    let states = run(gluey(&["webhooks", "endpoints"])).await;
    let state: serde_json::Value = states
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no endpoint state printed: {states}"));
    assert_eq!(state["endpoint"], "acme-retired", "{states}");
    assert_eq!(state["state"], "disabled", "{states}");
    let listed = run(gluey(&[
        "webhooks",
        "deadletters",
        "--endpoint",
        "acme-retired",
    ]))
    .await;
    for id in &ids {
        assert!(listed.contains(id.as_str()), "{id} not listed: {listed}");
    }
    assert!(!listed.contains("\"payload"), "never a payload: {listed}");
    for line in listed.lines().filter(|l| l.starts_with('{')) {
        let letter: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            letter["at"].is_string(),
            "when it was dead-lettered: {line}"
        );
        assert!(
            ["gone", "endpoint_disabled"].contains(&letter["reason"].as_str().unwrap_or("")),
            "{line}"
        );
    }

    gone.receiver.set_default(Reply::Status(204));
    run(gluey(&["webhooks", "enable", "--endpoint", "acme-retired"])).await;
    wait_metric(&dispatcher, "the endpoint enabled again", DEADLINE, |m| {
        metric(
            m,
            "dispatch_webhook_endpoint_disabled",
            &[("endpoint", "acme-retired")],
        ) == 0.0
    })
    .await;
    let replayed = run(gluey(&["webhooks", "replay", "--endpoint", "acme-retired"])).await;
    assert!(replayed.contains("replayed 3 "), "{replayed}");
    gone.receiver
        .wait_delivered("replayed deliveries", &ids, DEADLINE)
        .await;
    for request in gone.receiver.requests().iter().skip(1) {
        assert!(
            ids.iter().any(|id| id == request.webhook_id()),
            "unexpected webhook-id {}",
            request.webhook_id()
        );
        assert_eq!(request.attempt(), 1, "a replay starts a fresh ladder");
    }
    gone.receiver.assert_all_signed("acme-retired");
}

/// An endpoint that fails every attempt for days (five, compressed to seconds) is disabled, with
/// the gauge, an error log and the records it is owed dead-lettered as `endpoint_disabled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_days_is_disabled() {
    // Five days at this scale are 8.64 s; the whole ladder of one delivery is ~5.2 s, so the
    // endpoint is only disabled if failures keep coming after a delivery has used its attempts.
    let scale = 0.00002;
    let failing = Hook::simple("acme", "acme-failing", Reply::Status(500)).await;
    let t = Pipeline::builder("wh-failing-for-days")
        .hooks(&[&failing])
        .start();
    let mut dispatcher = t.webhook_dispatcher(scale, "5s");
    dispatcher.start().await;
    let started = Instant::now();
    let mut n = 0;
    wait_for("the failing endpoint disabled", LONG, || {
        n += 1;
        let record = event("acme", &format!("7946001{n:05}"), 1);
        let (t, dispatcher) = (&t, &dispatcher);
        async move {
            t.publish(std::slice::from_ref(&record)).await;
            let m = dispatcher.metrics().await;
            (metric(
                &m,
                "dispatch_webhook_endpoint_disabled",
                &[("endpoint", "acme-failing")],
            ) == 1.0)
                .then_some(())
        }
    })
    .await;
    assert!(
        started.elapsed() >= scaled(Duration::from_secs(5 * 24 * 3600), scale),
        "disabled after {:?}, before five (scaled) days of failures",
        started.elapsed()
    );
    let letters = t.dead_letters(1).await;
    assert!(
        letters.iter().any(|l| l.reason == "endpoint_disabled"),
        "{letters:?}"
    );
    dispatcher
        .wait_for_log("endpoint disabled; its deliveries are dead-lettered", 1)
        .await;
    assert!(failing.receiver.requests().iter().all(|r| !r.delivered()));
}
