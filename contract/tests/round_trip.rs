//! Property: every contract record survives encode → decode unchanged, in both encodings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken assumptions

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use gluey_contract::*;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970 … 2100, microsecond precision: what the schema's timestamp-micros carries.
    (0i64..4_102_444_800_000_000).prop_map(|us| Utc.timestamp_micros(us).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn status() -> impl Strategy<Value = Status> {
    proptest::sample::select(Status::ALL.to_vec())
}

fn route() -> impl Strategy<Value = Route> {
    prop_oneof![
        Just(Route::Webhook),
        Just(Route::Sftp),
        Just(Route::Api),
        Just(Route::Unknown)
    ]
}

fn location() -> impl Strategy<Value = Location> {
    (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of("[A-Z]{2}"),
        option::of(-90.0f64..90.0),
        option::of(-180.0f64..180.0),
    )
        .prop_map(
            |(code, name, city, region, postal, country, lat, lon)| Location {
                carrier_location_code: code,
                name,
                city,
                region,
                postal_code: postal,
                country_iso2: country,
                latitude: lat,
                longitude: lon,
            },
        )
}

prop_compose! {
    fn tracking_event()(
        status in status(),
        (milestone, code, sub_code) in (text(), text(), option::of(text())),
        (carrier_code, carrier_sub_code, carrier_description) in (text(), option::of(text()), option::of(text())),
        occurred_at in time(),
        utc_offset_seconds in -50_400i32..50_400,
        offset_source in prop_oneof![
            Just(OffsetSource::AssumedDefault), Just(OffsetSource::ExplicitOffset),
            Just(OffsetSource::CarrierGmtField), Just(OffsetSource::CarrierTzAbbrev),
            Just(OffsetSource::InferredFromLocation)],
        time_flags in vec(text(), 0..3),
        location in option::of(location()),
        eta in option::of(time()),
        (signed_by, pod) in (option::of(text()), option::of(text())),
        flags in vec(text(), 0..3),
    ) -> TrackingEvent {
        TrackingEvent {
            status, milestone, code, sub_code, carrier_code, carrier_sub_code, carrier_description,
            occurred_at, occurred_at_local: occurred_at.naive_utc().to_string(), utc_offset_seconds,
            offset_source, time_flags, location, eta, signed_by, proof_of_delivery_ref: pod, flags,
        }
    }
}

prop_compose! {
    fn shipment_update()(
        update_type in prop_oneof![Just(UpdateType::EtaChanged), Just(UpdateType::TrackingNumberChanged), Just(UpdateType::Expired)],
        occurred_at in time(),
        (previous_eta, new_eta) in (option::of(time()), option::of(time())),
        (previous_tracking_number, new_tracking_number) in (option::of(text()), option::of(text())),
    ) -> ShipmentUpdate {
        ShipmentUpdate { update_type, occurred_at, previous_eta, new_eta, previous_tracking_number, new_tracking_number }
    }
}

prop_compose! {
    fn canonical_record()(
        is_event in any::<bool>(),
        event in tracking_event(),
        update in shipment_update(),
        (record_id, revision, sequence) in (text(), 1i32..100, 0i64..i64::MAX),
        (shipment_key, shipment_id, customer_id) in (text(), option::of(text()), option::of(text())),
        (carrier, tracking_number) in (text(), text()),
        summary in (status(), option::of(time()), 0i64..1_000_000, any::<bool>()),
        route in route(),
        (received_at, published_at) in (time(), time()),
        raw_ref in (text(), text(), 0i32..1000, 0i64..i64::MAX),
        trace_id in text(),
    ) -> CanonicalRecord {
        CanonicalRecord {
            record_id,
            record_type: if is_event { RecordType::TrackingEvent } else { RecordType::ShipmentUpdate },
            revision, sequence, shipment_key, shipment_id, customer_id, carrier, tracking_number,
            event: is_event.then_some(event),
            update: (!is_event).then_some(update),
            shipment: ShipmentSummary { status: summary.0, eta: summary.1, sequence: summary.2, terminal: summary.3 },
            route, received_at, published_at,
            raw_ref: RawReference { envelope_id: raw_ref.0, topic: raw_ref.1, partition: raw_ref.2, offset: raw_ref.3 },
            trace_id,
        }
    }
}

prop_compose! {
    fn raw_envelope()(
        (envelope_id, carrier, format) in (text(), text(), text()),
        route in route(),
        received_at in time(),
        content_type in option::of(text()),
        payload in vec(any::<u8>(), 0..512),
        source in (option::of(text()), option::of(text()), option::of(0i64..1_000_000), option::of(text())),
        context in btree_map(text(), text(), 0..4),
        shipment_key in option::of(text()),
        trace_id in text(),
    ) -> RawEnvelope {
        RawEnvelope {
            envelope_id, carrier, format, route, received_at, content_type, payload,
            source: SourceReference { request_id: source.0, file: source.1, line: source.2, poll_id: source.3 },
            context, shipment_key, trace_id,
        }
    }
}

prop_compose! {
    fn shipment()(
        (shipment_key, alias_of, shipment_id, customer_id, carrier) in (text(), option::of(text()), option::of(text()), text(), text()),
        tracking_numbers in vec(text(), 1..4),
        references in btree_map(text(), text(), 0..3),
        parcels in vec((text(), option::of(text()), option::of(0i64..100_000)), 0..3),
        registered_at in time(),
    ) -> Shipment {
        Shipment {
            shipment_key, alias_of, shipment_id, customer_id, carrier, tracking_numbers, references,
            parcels: parcels.into_iter().map(|(tracking_number, reference, weight_grams)| Parcel { tracking_number, reference, weight_grams }).collect(),
            registered_at,
        }
    }
}

prop_compose! {
    fn shipment_state()(
        (shipment_key, status, last_sequence) in (text(), status(), 0i64..i64::MAX),
        seen in vec((text(), 1i32..10, text()), 0..5),
        eta in option::of(time()),
        terminal in any::<bool>(),
        tracking_numbers in vec(text(), 0..3),
        updated_at in time(),
        (latest_event_at, last_activity) in (option::of(time()), option::of(time())),
        current_tracking_number in option::of(text()),
        seen_hashes in vec(any::<i64>(), 0..5),
        events_covered_to in option::of(0i64..i64::MAX),
    ) -> ShipmentState {
        ShipmentState {
            shipment_key, status, last_sequence,
            seen: seen.into_iter().map(|(record_id, revision, content_hash)| SeenRecord { record_id, revision, content_hash }).collect(),
            eta, terminal, tracking_numbers, updated_at,
            latest_event_at, last_activity, current_tracking_number, seen_hashes, events_covered_to,
        }
    }
}

prop_compose! {
    fn dead_letter()(
        (stage, reason, carrier, format) in (text(), text(), option::of(text()), option::of(text())),
        (source_topic, source_partition, source_offset) in (text(), 0i32..100, 0i64..i64::MAX),
        source_key in option::of(vec(any::<u8>(), 0..32)),
        payload in vec(any::<u8>(), 0..256),
        (envelope_id, trace_id) in (option::of(text()), option::of(text())),
        failed_at in time(),
    ) -> DeadLetter {
        DeadLetter { stage, reason, carrier, format, source_topic, source_partition, source_offset, source_key, payload, envelope_id, trace_id, failed_at }
    }
}

prop_compose! {
    fn push_subscription()(
        (carrier, subject, shipment_key) in (text(), text(), option::of(text())),
        state in proptest::sample::select(SubscriptionState::ALL.to_vec()),
        (subscribed_at, expires_at, next_attempt_at) in (option::of(time()), option::of(time()), option::of(time())),
        (periods, failures, status_sequence) in (0i32..1000, 0i32..100, 0i64..i64::MAX),
        (last_error, stop_reason, carrier_subscription_id) in (option::of(text()), option::of(text()), option::of(text())),
        updated_at in time(),
    ) -> PushSubscription {
        PushSubscription {
            carrier, subject, shipment_key, state, subscribed_at, expires_at, next_attempt_at, periods,
            failures, last_error, stop_reason, status_sequence, carrier_subscription_id, updated_at,
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn round_trip<T: AvroRecord + PartialEq + std::fmt::Debug>(
    codec: &Codec,
    record: &T,
) -> Result<(), TestCaseError> {
    let (bytes, decoded): (Vec<u8>, T) = block_on(async {
        let bytes = codec.encode("t", record).await.unwrap();
        let decoded = codec.decode::<T>(&bytes).await.unwrap();
        (bytes, decoded)
    });
    prop_assert_eq!(&decoded, record);
    if !codec.uses_registry() {
        // The codec serializes straight to bytes; apache_avro's generic reader must read them
        // as exactly the value its generic path (value tree, resolved against the parsed schema)
        // makes of the record. (Maps compare regardless of entry order, as Avro's do.)
        let schema = apache_avro::Schema::parse_str(T::SCHEMA.current).unwrap();
        let expected = apache_avro::to_value(record)
            .unwrap()
            .resolve(&schema)
            .unwrap();
        let mut datum = &bytes[10..];
        let read = apache_avro::from_avro_datum(&schema, &mut datum, None).unwrap();
        prop_assert!(datum.is_empty(), "{} trailing bytes", datum.len());
        prop_assert_eq!(read, expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_records_round_trip(record in canonical_record()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }

    #[test]
    fn raw_envelopes_round_trip(record in raw_envelope()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }

    #[test]
    fn shipments_round_trip(record in shipment()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }

    #[test]
    fn shipment_states_round_trip(record in shipment_state()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }

    #[test]
    fn dead_letters_round_trip(record in dead_letter()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }

    #[test]
    fn push_subscriptions_round_trip(record in push_subscription()) {
        round_trip(&Codec::without_registry().unwrap(), &record)?;
    }
}

#[test]
fn single_object_encoding_has_the_avro_header() {
    let codec = Codec::without_registry().unwrap();
    let record = DeadLetter {
        stage: "parse".into(),
        reason: "r".into(),
        carrier: None,
        format: None,
        source_topic: "t".into(),
        source_partition: 0,
        source_offset: 0,
        source_key: None,
        payload: vec![1, 2, 3],
        envelope_id: None,
        trace_id: None,
        failed_at: Utc.timestamp_micros(1_700_000_000_000_001).unwrap(),
    };
    let bytes = block_on(codec.encode("t", &record)).unwrap();
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    // CRC-64-AVRO of the Parsing Canonical Form, little endian, as the Avro specification
    // defines it: the value fastavro 1.x computes for schemas/dead_letter.avsc.
    assert_eq!(hex(&bytes[2..10]), "26f3b2fe3abf8dbb");

    // A record written before, with apache-avro's (non-standard) fingerprint, still reads.
    let schema =
        apache_avro::Schema::parse_str(gluey_contract::schema::DEAD_LETTER.current).unwrap();
    let legacy = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    assert_ne!(
        &bytes[2..10],
        legacy.as_slice(),
        "the old fingerprint was not the standard one"
    );
    let mut old = bytes.clone();
    old[2..10].copy_from_slice(&legacy);
    assert_eq!(block_on(codec.decode::<DeadLetter>(&old)).unwrap(), record);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fingerprints of every contract schema as an independent implementation computes them
/// (fastavro 1.x: `fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")`), so readers
/// that look writer schemas up by fingerprint find ours.
#[test]
fn every_schema_has_the_standard_fingerprint() {
    use gluey_contract::schema::*;
    for (contract, fastavro) in [
        (&CANONICAL_RECORD, "bf00ae81490f1937"),
        (&DEAD_LETTER, "26f3b2fe3abf8dbb"),
        (&PUSH_SUBSCRIPTION, "54d9c5babc8a0357"),
        (&RAW_ENVELOPE, "ffb0d426d76ad464"),
        (&SHIPMENT, "4a0b70855143a086"),
        (&SHIPMENT_STATE, "9ebbff4bc7170ac4"),
    ] {
        let fp = gluey_contract::canonical::fingerprint(contract.current).unwrap();
        assert_eq!(hex(&fp), fastavro, "{}", contract.name);
    }
}

#[test]
fn garbage_is_a_typed_decode_error() {
    let codec = Codec::without_registry().unwrap();
    for garbage in [
        &b""[..],
        b"{\"json\":1}",
        &[0xC3, 0x01, 1, 2],
        &[0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 9],
    ] {
        let err = block_on(codec.decode::<RawEnvelope>(garbage)).unwrap_err();
        assert!(
            matches!(err, CodecError::Decode { .. }),
            "{garbage:?}: {err}"
        );
        assert!(!err.is_retryable());
    }
}

/// A real Schema Registry for the test, with basic authentication: the suite's
/// (`GLUEY_TEST_SCHEMA_REGISTRY_URL` and `GLUEY_TEST_SCHEMA_REGISTRY_CREDENTIALS`, started by
/// `scripts/test`), or Apicurio Registry started here by `scripts/kafka-broker`, stopped on drop.
struct TestRegistry {
    url: String,
    user: String,
    password: String,
    /// The directory of a registry started here.
    own: Option<std::path::PathBuf>,
}

/// `user=` and `password=` from a credentials file written by `scripts/kafka-broker`.
fn read_credentials(path: &str) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{path} has no {key}"))
            .to_string()
    };
    (get("user="), get("password="))
}

impl TestRegistry {
    fn start() -> TestRegistry {
        if let Ok(url) = std::env::var("GLUEY_TEST_SCHEMA_REGISTRY_URL") {
            let path = std::env::var("GLUEY_TEST_SCHEMA_REGISTRY_CREDENTIALS").expect(
                "GLUEY_TEST_SCHEMA_REGISTRY_URL needs GLUEY_TEST_SCHEMA_REGISTRY_CREDENTIALS (a file of user= and password=)",
            );
            let (user, password) = read_credentials(&path);
            return TestRegistry {
                url,
                user,
                password,
                own: None,
            };
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("schema-registry-{}", std::process::id()));
        let out = std::process::Command::new(root.join("scripts/kafka-broker"))
            .arg("start")
            .arg(&dir)
            .args(["--nodes", "0", "--schema-registry"])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/kafka-broker --schema-registry failed"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("scripts/kafka-broker printed no {name}: {stdout}"))
                .to_string()
        };
        let url = value("SCHEMA_REGISTRY_URL=");
        let (user, password) = read_credentials(&value("SCHEMA_REGISTRY_CREDENTIALS="));
        TestRegistry {
            url,
            user,
            password,
            own: Some(dir),
        }
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            url: self.url.clone(),
            basic_auth: Some((self.user.clone(), self.password.clone())),
            bearer_token: None,
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let _ = std::process::Command::new(root.join("scripts/kafka-broker"))
                .arg("stop")
                .arg(dir)
                .status();
        }
    }
}

/// `GET url` on the registry with `authorization`, as (status line, body).
fn registry_get(url: &str, authorization: Option<&str>) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    use std::io::{Read, Write};
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

fn shipment_record() -> Shipment {
    Shipment {
        shipment_key: "fedex:794612345678".into(),
        alias_of: None,
        shipment_id: Some("s-1".into()),
        customer_id: "acme".into(),
        carrier: "fedex".into(),
        tracking_numbers: vec!["794612345678".into()],
        references: BTreeMap::from([("order".into(), "A-1".into())]),
        parcels: vec![],
        registered_at: Utc.timestamp_micros(1_700_000_000_123_456).unwrap(),
    }
}

#[test]
fn confluent_wire_format_round_trips_through_a_real_schema_registry() {
    // Apicurio Registry 3, through its Confluent-compatible API, behind basic authentication.
    let registry = TestRegistry::start();
    block_on(async {
        let settings = registry.settings();
        // A subject of this run's own, so a shared registry's earlier runs do not matter.
        let topic = format!("tracking.shipments.v1-{}", std::process::id());
        let codec = Codec::new(Some(&settings)).unwrap();
        let record = shipment_record();
        let bytes = codec.encode(&topic, &record).await.unwrap();
        assert_eq!(bytes[0], 0, "Confluent magic byte");
        let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
        // The registry holds the schema under <topic>-value, with the id the record carries.
        use base64::Engine;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", registry.user, registry.password))
        );
        let latest_url = format!("{}/subjects/{topic}-value/versions/latest", registry.url());
        let (status, body) = registry_get(&latest_url, Some(&basic));
        assert!(status.contains(" 200"), "{status}: {body}");
        let latest: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(latest["id"].as_u64(), Some(u64::from(id)), "{latest}");
        let schema: serde_json::Value =
            serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema["name"], "Shipment", "{schema}");
        // A second codec (another service) decodes by fetching the schema by id.
        let reader = Codec::new(Some(&settings)).unwrap();
        let decoded: Shipment = reader.decode(&bytes).await.unwrap();
        assert_eq!(decoded, record);
        // Encoding again reuses the registered schema: the same id.
        let again = reader.encode(&topic, &record).await.unwrap();
        assert_eq!(again[1..5], bytes[1..5]);
        // It also still reads single-object records written without a registry.
        let plain = Codec::without_registry()
            .unwrap()
            .encode("t", &record)
            .await
            .unwrap();
        assert_eq!(reader.decode::<Shipment>(&plain).await.unwrap(), record);

        // The registry refuses a request without credentials, so the ones above were sent...
        let (status, _) = registry_get(&latest_url, None);
        assert!(status.contains(" 401"), "{status}");
        // ...and wrong credentials are refused, which surfaces as a registry error.
        let wrong = RegistrySettings {
            basic_auth: Some((registry.user.clone(), "not-the-password".into())),
            ..settings.clone()
        };
        let err = Codec::new(Some(&wrong))
            .unwrap()
            .encode(&format!("other-{}", std::process::id()), &record)
            .await
            .unwrap_err();
        assert!(matches!(err, CodecError::Registry(_)), "{err}");
        assert!(!err.to_string().contains("not-the-password"), "{err}");
    });
}

/// Zig-zag varint, as Avro writes a long.
fn avro_long(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn a_crafted_array_count_is_a_decode_error_not_an_abort() {
    // A 20-byte Shipment whose tracking_numbers array claims 500 million items: apache-avro's
    // default limit lets that count through and reserves room for it (tens of GB) before reading
    // a single item, which aborts the process. The codec's limit makes it a decode error.
    let codec = Codec::without_registry().unwrap();
    let valid = block_on(codec.encode("t", &shipment_record())).unwrap();
    let mut crafted = valid[..10].to_vec(); // the single-object header of the current schema
    crafted.extend([0x02, b'k', 0x00, 0x00, 0x00, 0x00]); // key "k", two nulls, two ""
    crafted.extend(avro_long(500_000_000));
    assert!(crafted.len() <= 21, "{} bytes", crafted.len());
    let err = block_on(codec.decode::<Shipment>(&crafted)).unwrap_err();
    assert!(matches!(err, CodecError::Decode { .. }), "{err}");
    assert!(!err.is_retryable());
}
