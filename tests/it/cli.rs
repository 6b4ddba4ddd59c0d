//! The command line refuses bad settings with an error that names the field, before it touches
//! Kafka, and describes the topics it manages.

use crate::support;

use std::process::{Command, Output};

fn gluey(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("KAFKA_BOOTSTRAP")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("gluey.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const SERVICE_ARGS: [&str; 4] = [
    "--kafka-bootstrap",
    "127.0.0.1:1",
    "--ops-listen",
    "127.0.0.1:0",
];

#[test]
fn a_bad_signing_secret_is_named_by_its_field() {
    let (_, dir) = support::unique("cli-secret");
    let path = config(&dir, "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"https://example.com/hook\"\nsecrets = [\"not-a-whsec\"]\n");
    let out = gluey(
        &[
            &["dispatch", "webhook", "--config", &path][..],
            &SERVICE_ARGS,
        ]
        .concat(),
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("customers[0].webhooks[0].secrets") && err.contains("whsec_"),
        "{err}"
    );
}

#[test]
fn a_missing_environment_variable_is_named() {
    let (_, dir) = support::unique("cli-env");
    let path = config(
        &dir,
        "[carriers.fedex]\naiv_secrets = [\"${GLUEY_TEST_UNSET_SECRET}\"]\n",
    );
    let out = gluey(
        &[&["ingest", "webhook", "--config", &path][..], &SERVICE_ARGS].concat(),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("GLUEY_TEST_UNSET_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_config_field_is_refused_with_its_name() {
    let (_, dir) = support::unique("cli-unknown");
    let path = config(&dir, "[[customers]]\nid = \"acme\"\nwebhoks = []\n");
    let out = gluey(
        &[&["normalize", "--config", &path][..], &SERVICE_ARGS].concat(),
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("webhoks"), "{}", stderr(&out));
}

#[test]
fn ingest_subscriptions_refuses_a_bad_or_missing_carrier_section() {
    let (_, dir) = support::unique("cli-subscriptions");
    let path = config(
        &dir,
        "[carriers.ups]\napi_keys = [\"id\"]\ncredentials = [\"credential\"]\n\n[carriers.ups.subscriptions]\nbase_url = \"https://wwwcie.ups.com\"\nclient_id = \"id\"\nclient_secret = \"secret\"\nmax_batch = 250\n",
    );
    let run = |path: &str, extra: &[&str]| {
        gluey(
            &[
                &["ingest", "subscriptions", "--config", path][..],
                extra,
                &SERVICE_ARGS,
            ]
            .concat(),
            &[],
        )
    };
    let out = run(&path, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("carriers.ups.subscriptions.max_batch") && err.contains("100"),
        "{err}"
    );
    let out = run(&config(&dir, ""), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[carriers.ups.subscriptions]"),
        "{}",
        stderr(&out)
    );
    let out = run(&config(&dir, ""), &["--retry-schedule", "1m,soon"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--retry-schedule"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_flag_value_names_the_flag_and_env_var_alike() {
    let (_, dir) = support::unique("cli-flag");
    let path = config(&dir, "");
    let out = gluey(
        &[
            &[
                "ingest",
                "webhook",
                "--config",
                &path,
                "--produce-timeout",
                "5 parsecs",
            ][..],
            &SERVICE_ARGS,
        ]
        .concat(),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--produce-timeout"),
        "{}",
        stderr(&out)
    );
    let out = gluey(
        &[&["ingest", "webhook", "--config", &path][..], &SERVICE_ARGS].concat(),
        &[("GLUEY_INGEST_MAX_BODY_BYTES", "lots")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--max-body-bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ingest_without_carrier_credentials_says_what_is_missing() {
    let (_, dir) = support::unique("cli-nocarrier");
    let path = config(&dir, "");
    let out = gluey(
        &[
            &[
                "ingest",
                "webhook",
                "--config",
                &path,
                "--listen",
                "127.0.0.1:0",
            ][..],
            &SERVICE_ARGS,
        ]
        .concat(),
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    for section in [
        "carriers.fedex",
        "carriers.ups",
        "carriers.dhl",
        "carriers.direct.integrators",
    ] {
        assert!(err.contains(section), "{err}");
    }
}

#[test]
fn a_carrier_section_that_cannot_authenticate_is_named() {
    let (_, dir) = support::unique("cli-carrier-field");
    let path = config(
        &dir,
        "[carriers.dhl]\nheader = \"X-Gluey-Push-Token\"\ntokens = []\n",
    );
    let out = gluey(
        &[&["ingest", "webhook", "--config", &path][..], &SERVICE_ARGS].concat(),
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("carriers.dhl.tokens") && err.contains("expected one or two secrets"),
        "{err}"
    );
}

#[test]
fn topics_list_prints_the_declaration() {
    let out = gluey(&["topics", "list", "--topic-prefix", "prod."], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for spec in gluey_contract::TOPICS {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("prod.{}", spec.name)))
            .unwrap_or_else(|| panic!("{} listed", spec.name));
        assert!(line.contains(spec.cleanup.as_str()), "{line}");
    }
}

#[test]
fn dev_broker_answers_control_commands_and_names_bad_ones() {
    // The mock cluster itself is under test here (it backs `gluey dev`).
    let (prefix, dir) = support::unique("cli-broker");
    let mut broker = support::Broker::mock(&dir);
    assert_eq!(broker.command("ping"), "ok");
    broker.create_topics(&prefix);
    assert_eq!(
        support::topics::count(broker.bootstrap(), &format!("{prefix}tracking.events.v1")),
        0
    );
    assert!(broker
        .command("broker-down one")
        .starts_with("error: broker-down: broker id"));
    assert!(broker
        .command("request-errors produce gremlins")
        .contains("unknown error"));
    assert_eq!(broker.command("request-errors produce not-leader 2"), "ok");
    assert!(broker
        .command("teleport")
        .starts_with("error: unknown command"));
}

#[test]
fn topics_create_is_idempotent_on_a_real_cluster() {
    let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") else {
        eprintln!("SKIPPED: the dev broker does not answer CreateTopics; set KAFKA_BOOTSTRAP to a real cluster");
        return;
    };
    let (prefix, _) = support::unique("cli-topics");
    let args = [
        "topics",
        "create",
        "--kafka-bootstrap",
        &bootstrap,
        "--topic-prefix",
        &prefix,
        "--partitions",
        "3",
        "--replication",
        "1",
    ];
    let first = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(args)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("created"));
    let second = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(args)
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        String::from_utf8_lossy(&second.stdout)
            .matches("already exists")
            .count(),
        gluey_contract::TOPICS.len()
    );
}

#[test]
fn the_example_config_file_validates() {
    // The README points operators at it; it must load as written.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gluey.toml");
    for (var, value) in [
        ("FEDEX_AIV_SECRET", "example-token"),
        ("UPS_CLIENT_ID", "example-client-id"),
        ("UPS_TRACK_ALERT_CREDENTIAL", "example-credential"),
        ("DHL_PUSH_TOKEN", "example-token"),
        ("SWIFTPARCEL_WEBHOOK_SECRET", support::CUSTOMER_SECRET),
        ("ACME_WEBHOOK_SECRET", support::CUSTOMER_SECRET),
    ] {
        std::env::set_var(var, value);
    }
    let file = gluey::cli::ConfigFile::load(&path).unwrap();
    assert_eq!(file.customers.len(), 1);
    let carriers = &file.carriers;
    assert!(carriers.fedex.is_some() && carriers.ups.is_some() && carriers.dhl.is_some());
    assert_eq!(
        carriers.direct.as_ref().unwrap().integrators[0].carrier,
        "swiftparcel"
    );
}

#[test]
fn a_park_window_longer_than_the_parked_topic_keeps_records_is_refused() {
    let (_, dir) = support::unique("cli-park-window");
    let path = config(&dir, "");
    let out = gluey(
        &[
            &["normalize", "--config", &path, "--park-window", "45d"][..],
            &SERVICE_ARGS,
        ]
        .concat(),
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--park-window") && err.contains("normalizer.parked.v1"),
        "names the flag and the topic: {err}"
    );
}
