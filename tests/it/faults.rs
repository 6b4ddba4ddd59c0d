//! The pipeline on real brokers that are broken on purpose, each test on a cluster of its own
//! (`scripts/kafka-broker`), so no other test is disturbed; and the TLS and SASL settings the
//! README promises, passed through `GLUEY_KAFKA_PROPERTIES` to a SASL_SSL (SCRAM) listener.

use std::process::Command;

use crate::support::pipeline::{scan, Pipeline};
use crate::support::{self, CustomerEndpoint};
use gluey::dev::fedex_simulator::{aiv_payload, sign};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_over_sasl_ssl_and_wrong_credentials_fail_at_start_up() {
    let customer = CustomerEndpoint::start().await;
    let number = "794600000001".to_string();
    let p = Pipeline::on_sasl_broker("sasl", &customer);
    p.register(std::slice::from_ref(&number)).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;
    let body = aiv_payload(
        &number,
        &[scan(
            "OD",
            "On FedEx vehicle for delivery",
            None,
            "2024-04-25T08:55:00-07:00",
        )],
        None,
        None,
    );
    assert_eq!(
        p.push(&body, &sign(support::FEDEX_SECRET, &body))
            .await
            .status(),
        200
    );
    let delivered = customer.wait_for(1).await;
    assert_eq!(
        delivered[0].json()["data"]["shipment"]["tracking_number"],
        number
    );
    for service in [&ingest, &normalizer, &dispatcher] {
        assert!(
            !service.log().contains("sasl.password"),
            "no credential in the log"
        );
    }

    // The same listener with a wrong password: the service stops at start-up and says why.
    let sasl = p.broker.sasl().unwrap();
    let wrong = sasl
        .gluey_kafka_properties()
        .split(';')
        .map(|kv| {
            if kv.starts_with("sasl.password=") {
                "sasl.password=not-the-password".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    let out = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(["normalize", "--kafka-bootstrap", &sasl.bootstrap])
        .args(["--topic-prefix", &p.prefix])
        .args(["--config", &p.config.display().to_string()])
        .args(["--ops-listen", "127.0.0.1:0"])
        .envs(support::carriers::environment())
        .env("GLUEY_KAFKA_PROPERTIES", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused to start: {err}");
    assert!(
        err.to_lowercase().contains("authentication"),
        "the error names the failed authentication: {err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "never the password: {err}"
    );
}
