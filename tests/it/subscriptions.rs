//! `gluey ingest subscriptions` as its own process on a real Kafka-protocol broker, against the
//! simulated UPS Track Alert and DHL Unified Push APIs (real HTTP servers): registered shipments
//! are subscribed in calls of at most 100 numbers, renewed before their (compressed) validity
//! ends, stopped at delivery, refused numbers are given up after the retry schedule, a 429 is
//! waited out, and a restart neither forgets a subscription nor makes it again early. Everything
//! is asserted from what the carrier saw (the simulator's call log and ledger) and /metrics.

use std::path::Path;
use std::time::Duration;

use crate::support::pipeline::Pipeline;
use crate::support::{wait_for, Service, DEADLINE};
use chrono::Utc;
use gluey::dev::subscription_api::{DhlSubscriptionApi, UpsSettings, UpsSubscriptionApi};
use gluey_contract::*;
use tokio_util::sync::CancellationToken;

/// Compressed from UPS's 14 days; the service renews `RENEW_BEFORE` ahead of the end.
const VALIDITY: Duration = Duration::from_secs(10);
const RENEW_BEFORE: Duration = Duration::from_secs(4);
/// A renewal may arrive this much "earlier" than `RENEW_BEFORE` (the call's own latency and a
/// tick), never more: more would be a second subscription within the same period.
const RENEWAL_SLACK: Duration = Duration::from_secs(2);

/// `gluey ingest subscriptions` on `p`'s broker with the config file `config`, its tick and
/// retries compressed.
fn subscriptions_service(p: &Pipeline, config: &Path) -> Service {
    Service::new(
        "subscriptions",
        &["ingest", "subscriptions"],
        p.broker.bootstrap(),
        &p.prefix,
        config,
        &p.dir,
    )
    .arg("--tick", "100ms")
    .arg("--retry-schedule", "300ms,600ms")
}

/// Publishes a `delivered` canonical event for each number, as the normalizer would.
async fn deliver(p: &Pipeline, carrier: &str, numbers: &[String]) {
    let records: Vec<CanonicalRecord> = numbers.iter().map(|n| delivered(carrier, n)).collect();
    p.publish(&records).await;
}

fn delivered(carrier: &str, number: &str) -> CanonicalRecord {
    let now = Utc::now();
    CanonicalRecord {
        record_id: format!("ev-{number}"),
        record_type: RecordType::TrackingEvent,
        revision: 1,
        sequence: 4,
        shipment_key: shipment_key(carrier, number),
        shipment_id: None,
        customer_id: Some("acme".into()),
        carrier: carrier.into(),
        tracking_number: number.into(),
        event: Some(TrackingEvent {
            status: Status::Delivered,
            milestone: "delivery".into(),
            code: "delivered".into(),
            sub_code: None,
            carrier_code: "11".into(),
            carrier_sub_code: None,
            carrier_description: Some("DELIVERED".into()),
            occurred_at: now,
            occurred_at_local: now.naive_utc().to_string(),
            utc_offset_seconds: 0,
            offset_source: OffsetSource::CarrierGmtField,
            time_flags: vec![],
            location: None,
            eta: None,
            signed_by: None,
            proof_of_delivery_ref: None,
            flags: vec![],
        }),
        update: None,
        shipment: ShipmentSummary {
            status: Status::Delivered,
            eta: None,
            sequence: 4,
            terminal: true,
        },
        route: Route::Webhook,
        received_at: now,
        published_at: now,
        raw_ref: RawReference {
            envelope_id: format!("env-{number}"),
            topic: "tracking.raw.v1".into(),
            partition: 0,
            offset: 0,
        },
        trace_id: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    }
}

/// The value of one sample in Prometheus text, e.g. `ingest_subscriptions{carrier="ups",state="active"}`.
fn sample(metrics: &str, series: &str) -> Option<i64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse::<f64>().ok().map(|v| v as i64)
    })
}

fn gauge(carrier: &str, state: &str) -> String {
    format!("ingest_subscriptions{{carrier=\"{carrier}\",state=\"{state}\"}}")
}

/// Waits until /metrics shows exactly these subscription counts for `carrier`.
async fn wait_for_states(service: &Service, carrier: &str, expected: &[(&str, i64)]) {
    let what = format!("{carrier} subscriptions {expected:?}");
    wait_for(&what, DEADLINE, || async move {
        let metrics = service.metrics().await;
        expected
            .iter()
            .all(|(state, n)| sample(&metrics, &gauge(carrier, state)) == Some(*n))
            .then_some(())
    })
    .await;
}

fn ups_number(i: usize) -> String {
    format!("1ZSUBTST{i:010}")
}

const DHL_API_KEY: &str = "dhl-api-key";
const DHL_HOOK_TOKEN: &str = "push-token";

async fn start_dhl(shutdown: &CancellationToken) -> DhlSubscriptionApi {
    DhlSubscriptionApi::start(
        "127.0.0.1:0".parse().unwrap(),
        DHL_API_KEY,
        DHL_HOOK_TOKEN,
        shutdown.clone(),
    )
    .await
    .unwrap()
}

/// `[carriers.dhl.subscriptions]` for the simulator, plus `extra` lines.
fn dhl_config(dhl: &DhlSubscriptionApi, extra: &str) -> String {
    format!(
        "[carriers.dhl]\nheader = \"x-gluey-dhl-token\"\ntokens = [\"{DHL_HOOK_TOKEN}\"]\n\n[carriers.dhl.subscriptions]\nbase_url = \"{}\"\napi_key = \"{DHL_API_KEY}\"\nhook_url = \"https://ingest.example.com/carriers/dhl/push\"\nhook_header = \"x-gluey-dhl-token\"\nhook_token = \"{DHL_HOOK_TOKEN}\"\n{extra}",
        dhl.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ups_subscriptions_are_batched_renewed_stopped_at_delivery_and_survive_a_restart() {
    let setup = Pipeline::builder("subs-ups").start();
    let shutdown = CancellationToken::new();
    let ups = UpsSubscriptionApi::start(
        "127.0.0.1:0".parse().unwrap(),
        UpsSettings {
            // Short-lived tokens, so the cache has to refresh during the test.
            token_lifetime: Duration::from_secs(4),
            validity: VALIDITY,
            ..UpsSettings::new("gluey-test", "ups-client-secret")
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let numbers: Vec<String> = (0..250).map(ups_number).collect();
    let invalid = vec!["1ZBAD00001".to_string(), "1ZBAD00002".to_string()];
    setup.register_as("ups", &numbers).await;
    setup.register_as("ups", &invalid).await;
    ups.throttle_next(Duration::from_secs(1));
    let config = setup.write_config("gluey.toml", &format!(
        "[carriers.ups]\napi_keys = [\"gluey-test\"]\ncredentials = [\"ups-push-credential\"]\n\n[carriers.ups.subscriptions]\nbase_url = \"{}\"\nclient_id = \"gluey-test\"\nclient_secret = \"ups-client-secret\"\nvalidity = \"{}ms\"\nrenew_before = \"{}ms\"\n",
        ups.base_url(),
        VALIDITY.as_millis(),
        RENEW_BEFORE.as_millis()
    ));
    let mut service = subscriptions_service(&setup, &config);
    service.start().await;

    // Every valid number is subscribed once, in calls of at most 100; the 429 was waited out.
    wait_for("all 250 numbers subscribed", DEADLINE, || {
        let done = numbers.iter().all(|n| ups.granted(n).is_some());
        async move { done.then_some(()) }
    })
    .await;
    let calls = ups.calls();
    assert!(
        calls.iter().all(|c| c.numbers.len() <= 100),
        "a call carried more than 100 numbers: {:?}",
        calls.iter().map(|c| c.numbers.len()).collect::<Vec<_>>()
    );
    assert!(
        calls.iter().all(|c| c.status == 200
            || c.status == 429
            || c.error_code.as_deref() == Some("VSS210")),
        "UPS refused a call: {:?}",
        calls
            .iter()
            .map(|c| (c.status, c.error_code.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 1);
    assert_eq!(ups.early_retries(), 0, "Retry-After was honoured");
    for number in &numbers {
        assert_eq!(ups.granted(number).unwrap().periods, 1, "{number}");
    }

    // Invalid numbers: refused by UPS, tried along the schedule (1 + 2 retries), then given up.
    let answered_with = |number: &String| {
        ups.calls()
            .iter()
            .filter(|c| c.status != 429 && c.numbers.contains(number))
            .count()
    };
    wait_for("the invalid numbers tried three times", DEADLINE, || {
        let done = invalid.iter().all(|n| answered_with(n) == 3);
        async move { done.then_some(()) }
    })
    .await;

    // Delivered shipments stop.
    let delivered = &numbers[..50];
    let in_transit = &numbers[50..];
    deliver(&setup, "ups", delivered).await;
    wait_for_states(&service, "ups", &[("stopped", 50), ("failed", 2)]).await;
    let periods_at_delivery: Vec<u32> = delivered
        .iter()
        .map(|n| ups.granted(n).unwrap().periods)
        .collect();

    // The others are renewed before their validity ends.
    wait_for("every shipment in transit renewed once", DEADLINE, || {
        let done = in_transit
            .iter()
            .all(|n| ups.granted(n).unwrap().periods >= 2);
        async move { done.then_some(()) }
    })
    .await;

    // A restart right after a renewal: the restored state knows every period has most of its
    // validity left, so nothing is subscribed again until the next renewal is due.
    assert!(
        service.terminate().success(),
        "clean exit on SIGTERM:\n{}",
        service.log()
    );
    service.start().await;
    wait_for_states(
        &service,
        "ups",
        &[
            ("active", 200),
            ("stopped", 50),
            ("failed", 2),
            ("lapsed", 0),
            ("pending", 0),
        ],
    )
    .await;
    wait_for("every shipment in transit renewed again", DEADLINE, || {
        let done = in_transit
            .iter()
            .all(|n| ups.granted(n).unwrap().periods >= 3);
        async move { done.then_some(()) }
    })
    .await;

    for number in in_transit {
        let granted = ups.granted(number).unwrap();
        assert_eq!(granted.lapses, 0, "{number} lapsed: {granted:?}");
        assert!(
            granted
                .renewed_with_left
                .iter()
                .all(|left| *left <= RENEW_BEFORE + RENEWAL_SLACK),
            "{number} subscribed again within a period: {granted:?}"
        );
    }
    let periods_now: Vec<u32> = delivered
        .iter()
        .map(|n| ups.granted(n).unwrap().periods)
        .collect();
    assert_eq!(
        periods_now, periods_at_delivery,
        "delivered shipments are not renewed"
    );
    for number in &invalid {
        assert_eq!(answered_with(number), 3, "{number} was given up");
    }
    let answered = ups.calls().iter().filter(|c| c.status != 429).count();
    assert!(
        (2..answered).contains(&ups.token_requests()),
        "the OAuth token is cached and refreshed: {} token requests for {answered} calls",
        ups.token_requests()
    );
    let metrics = service.metrics().await;
    assert!(
        sample(&metrics, &gauge("ups", "active")) == Some(200),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "ingest_subscription_numbers_total{carrier=\"ups\",outcome=\"renewed\"}"
        )
        .is_some_and(|n| n >= 200),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "ingest_subscription_calls_total{carrier=\"ups\",outcome=\"ok\"}"
        )
        .is_some_and(|n| n >= 2),
        "{metrics}"
    );
    assert!(service.terminate().success());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhl_push_subscriptions_per_tracking_number() {
    let setup = Pipeline::builder("subs-dhl").start();
    let shutdown = CancellationToken::new();
    let dhl = start_dhl(&shutdown).await;
    let numbers: Vec<String> = (1..=3).map(|i| format!("0034043416109400000{i}")).collect();
    let unknown = "00340434169999999999".to_string();
    dhl.unknown_numbers(&[&unknown]);
    dhl.throttle_next(Duration::from_secs(1));
    setup.register_as("dhl", &numbers).await;
    setup
        .register_as("dhl", std::slice::from_ref(&unknown))
        .await;
    let config = setup.write_config("gluey.toml", &dhl_config(&dhl, "service = \"parcel-de\"\n"));
    let mut service = subscriptions_service(&setup, &config);
    service.start().await;

    wait_for_states(&service, "dhl", &[("active", 3), ("failed", 1)]).await;
    let tried_unknown = || {
        dhl.calls()
            .iter()
            .filter(|c| c.status == 404 && c.subject.as_deref() == Some(unknown.as_str()))
            .count()
    };
    wait_for("the unknown number tried three times", DEADLINE, || {
        let done = tried_unknown() == 3;
        async move { done.then_some(()) }
    })
    .await;
    let calls = dhl.calls();
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 1);
    assert_eq!(dhl.early_retries(), 0, "Retry-After was honoured");
    for number in &numbers {
        assert_eq!(dhl.granted(number).unwrap().periods, 1, "{number}");
    }
    for call in calls.iter().filter(|c| c.status == 201) {
        assert_eq!(
            call.hook_uri.as_deref(),
            Some("https://ingest.example.com/carriers/dhl/push")
        );
        assert_eq!(call.hook_header.as_deref(), Some("x-gluey-dhl-token"));
        assert!(call.hook_token_ok);
        assert_eq!(call.service.as_deref(), Some("parcel-de"));
        assert_eq!(
            call.events,
            ["Pre-Transit", "Transit", "Delivered", "Failure", "Unknown"]
        );
    }

    deliver(&setup, "dhl", &numbers[..1]).await;
    wait_for_states(&service, "dhl", &[("active", 2), ("stopped", 1)]).await;

    // After a restart the state is restored, and nothing is subscribed again: a shipment
    // registered afterwards is the sign that the restarted service has made its calls.
    assert!(service.terminate().success(), "{}", service.log());
    service.start().await;
    let late = "00340434161094000009".to_string();
    setup.register_as("dhl", std::slice::from_ref(&late)).await;
    wait_for_states(
        &service,
        "dhl",
        &[("active", 3), ("stopped", 1), ("failed", 1), ("pending", 0)],
    )
    .await;
    for number in &numbers {
        assert_eq!(dhl.granted(number).unwrap().periods, 1, "{number}");
    }
    assert_eq!(dhl.granted(&late).unwrap().periods, 1);
    assert_eq!(tried_unknown(), 3, "the unknown number was given up");
    assert!(service.terminate().success());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dhl_account_subscription_covers_the_registered_shipments() {
    let setup = Pipeline::builder("subs-dhl-account").start();
    let shutdown = CancellationToken::new();
    let dhl = start_dhl(&shutdown).await;
    setup
        .register_as("dhl", &["00340434161094000001".to_string()])
        .await;
    let config = setup.write_config(
        "gluey.toml",
        &dhl_config(
            &dhl,
            "service = \"ecommerce-europe\"\naccount_id = \"12345678\"\n",
        ),
    );
    let mut service = subscriptions_service(&setup, &config);
    service.start().await;
    // One subscription, the account's: a per-number one would show as a second (pending or
    // active) subscription.
    wait_for_states(&service, "dhl", &[("active", 1), ("pending", 0)]).await;
    let calls = dhl.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].subject.as_deref(), Some("account:12345678"));
    assert_eq!(calls[0].status, 201);
    assert_eq!(dhl.granted("account:12345678").unwrap().periods, 1);
    assert!(service.terminate().success());
    shutdown.cancel();
}
