//! Golden tests for `usps.v3` against the fixtures in `tests/fixtures/usps.v3/`: times from the
//! GMT fields and from the state, ordering, identity, ETAs, per-item errors, splits; typed errors
//! and properties in the included modules.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::identity::event_id;
use gluey_carriers::usps::UspsV3;
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Route, Status, UpdateType};

use records::{classification, events, utc};

mod errors;
mod props;

/// (code, UTC, offset, offset source, time flags) of an event.
type TimeRow = (String, DateTime<Utc>, i32, OffsetSource, Vec<String>);

pub const FIXTURES: [&str; 7] = [
    "example_out_for_delivery.json",
    "delivered_parcel_locker.json",
    "local_times_only.json",
    "gmt_spellings.json",
    "item_errors.json",
    "multi_shipment.json",
    "every_code.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/usps.v3")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_all(payload: &[u8]) -> Result<Parsed, ParseError> {
    let context = BTreeMap::new();
    UspsV3.parse(RawInput {
        carrier: "usps",
        payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

pub fn parse(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_all(payload).map(|p| p.records)
}

fn etas(records: &[ParsedRecord]) -> Vec<(&str, Option<DateTime<Utc>>)> {
    records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Update {
                tracking_number,
                update,
            } => {
                assert_eq!(update.update_type, UpdateType::EtaChanged);
                Some((tracking_number.as_str(), update.new_eta))
            }
            ParsedRecord::Event { .. } => None,
        })
        .collect()
}

/// (code, UTC, local, offset, source) of each event.
fn times(records: &[ParsedRecord]) -> Vec<(String, DateTime<Utc>, String, i32, OffsetSource)> {
    events(records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.clone(),
                e.occurred_at,
                e.occurred_at_local.clone(),
                e.utc_offset_seconds,
                e.offset_source,
            )
        })
        .collect()
}

#[test]
fn the_format_is_registered_as_a_polled_api() {
    let format = gluey_carriers::format("usps.v3").unwrap();
    assert_eq!(
        (format.name(), format.carrier(), format.routes()),
        ("usps.v3", "usps", &[Route::Api][..])
    );
    assert_eq!(format.mapping().unwrap().file, "usps.json");
}

#[test]
fn carriers_md_example_gives_two_events_oldest_first_from_the_gmt_fields() {
    let records = parse(&fixture("example_out_for_delivery.json")).unwrap();
    let gmt = OffsetSource::CarrierGmtField;
    assert_eq!(
        times(&records),
        [
            (
                "07".to_string(),
                utc("2024-11-22T13:59:45Z"),
                "2024-11-22T08:59:45".to_string(),
                -5 * 3600,
                gmt
            ),
            (
                "OF".to_string(),
                utc("2024-11-22T14:10:45Z"),
                "2024-11-22T09:10:45".to_string(),
                -5 * 3600,
                gmt
            ),
        ]
    );
    let events = events(&records);
    let (tn, id, arrived) = events[0];
    assert_eq!(tn, "9400109205328003425036");
    assert_eq!(arrived.status, Status::InTransit);
    assert_eq!(
        classification(arrived),
        "in_transit/arrived_at_carrier_facility/destination"
    );
    assert_eq!(
        arrived.carrier_description.as_deref(),
        Some("Arrived at Post Office")
    );
    let location = arrived.location.as_ref().unwrap();
    assert_eq!(
        (
            location.city.as_deref(),
            location.region.as_deref(),
            location.postal_code.as_deref(),
            location.country_iso2.as_deref()
        ),
        (Some("LECANTO"), Some("FL"), Some("34461"), Some("US")),
        "a null eventCountry is a domestic event"
    );
    // "07" is identified as "7": the same code however it is padded.
    assert_eq!(
        id,
        event_id("usps", tn, "7", utc("2024-11-22T13:59:00Z"), &[])
    );
    let (_, _, ofd) = events[1];
    assert_eq!(ofd.status, Status::OutForDelivery);
    assert_eq!(classification(ofd), "delivery/out_for_delivery/");
    // expectedDeliveryTimeStamp 20:00 in Florida (EST) = 01:00Z the next day.
    assert_eq!(
        etas(&records),
        [("9400109205328003425036", Some(utc("2024-11-23T01:00:00Z")))]
    );
    assert!(matches!(records.last(), Some(ParsedRecord::Update { .. })));
}

#[test]
fn a_delivered_response_is_ordered_by_the_real_seconds_and_signed_on_delivery_only() {
    let records = parse(&fixture("delivered_parcel_locker.json")).unwrap();
    let events = events(&records);
    let codes: Vec<(&str, Status)> = events
        .iter()
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status))
        .collect();
    assert_eq!(
        codes,
        [
            ("GX", Status::InfoReceived),
            ("03", Status::InTransit),
            ("A1", Status::InTransit),
            ("TL", Status::InTransit),
            ("EF", Status::InTransit),
            // Both at 06:10 local; GMT has 14:10:05 for 07 and 14:10:12 for OF.
            ("07", Status::InTransit),
            ("OF", Status::OutForDelivery),
            ("01", Status::Delivered),
        ]
    );
    for (_, _, event) in &events {
        let expected = (event.carrier_code == "01").then_some("PARCEL LOCKER");
        assert_eq!(
            event.signed_by.as_deref(),
            expected,
            "{}",
            event.carrier_code
        );
    }
    let (_, _, regional) = events[2];
    assert_eq!(
        regional.location.as_ref().unwrap().city.as_deref(),
        Some("JACKSONVILLE FL DISTRIBUTION CENTER"),
        "a facility name in eventCity is kept verbatim"
    );
    let (_, _, delivered) = events[7];
    assert_eq!(delivered.occurred_at, utc("2024-11-22T21:58:40Z"));
    assert_eq!(delivered.occurred_at_local, "2024-11-22T13:58:40");
    assert_eq!(delivered.utc_offset_seconds, -8 * 3600);
    let mut ids: Vec<&str> = events.iter().map(|(_, id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
    assert_eq!(
        etas(&records),
        [("9434650899563012345678", Some(utc("2024-11-23T05:00:00Z")))]
    );
}

#[test]
fn offset_less_local_times_are_resolved_in_the_states_zone() {
    let records = parse(&fixture("local_times_only.json")).unwrap();
    let inferred = OffsetSource::InferredFromLocation;
    let summary: Vec<TimeRow> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.clone(),
                e.occurred_at,
                e.utc_offset_seconds,
                e.offset_source,
                e.time_flags.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // No location at all: the default zone, New York (EDT), flagged assumed.
            (
                "MA".into(),
                utc("2023-11-04T13:00:00Z"),
                -4 * 3600,
                OffsetSource::AssumedDefault,
                vec![]
            ),
            (
                "OA".into(),
                utc("2023-11-05T04:45:00Z"),
                -10 * 3600,
                inferred,
                vec![]
            ),
            // 01:30 happens twice in Indianapolis that night: the earlier, flagged.
            (
                "10".into(),
                utc("2023-11-05T05:30:00Z"),
                -4 * 3600,
                inferred,
                vec!["ambiguous_local_time".into()]
            ),
            (
                "A1".into(),
                utc("2023-11-06T09:00:00Z"),
                0,
                inferred,
                vec![]
            ),
            // 02:30 does not exist in Dallas that night: read with the offset before the jump.
            (
                "10".into(),
                utc("2024-03-10T08:30:00Z"),
                -6 * 3600,
                inferred,
                vec!["nonexistent_local_time".into()]
            ),
            // Arizona keeps standard time.
            (
                "SF".into(),
                utc("2024-03-11T23:05:00Z"),
                -7 * 3600,
                inferred,
                vec![]
            ),
        ]
    );
    // predictedDeliveryDate + "8:00 PM" in Arizona.
    assert_eq!(
        etas(&records),
        [("9205590164917312751089", Some(utc("2024-03-13T03:00:00Z")))]
    );
}

#[test]
fn gmt_fields_in_every_spelling() {
    let records = parse(&fixture("gmt_spellings.json")).unwrap();
    let gmt = OffsetSource::CarrierGmtField;
    assert_eq!(
        times(&records),
        [
            // GMT only, no location: the default zone gives the local clock.
            (
                "80".into(),
                utc("2024-04-01T10:15:27Z"),
                "2024-04-01T06:15:27".into(),
                -4 * 3600,
                OffsetSource::AssumedDefault
            ),
            // GMT only, in India: the location's zone.
            (
                "81".into(),
                utc("2024-04-02T10:15:27Z"),
                "2024-04-02T15:45:27".into(),
                19_800,
                OffsetSource::InferredFromLocation
            ),
            // No GMTOffset: local 00:28 vs GMT 18:58:40 rounds to +05:30.
            (
                "82".into(),
                utc("2024-04-03T18:58:40Z"),
                "2024-04-04T00:28:40".into(),
                19_800,
                gmt
            ),
            // "-7:00" without a leading zero, fractional GMT seconds.
            (
                "A1".into(),
                utc("2024-04-04T14:03:12.041Z"),
                "2024-04-04T07:03:12".into(),
                -7 * 3600,
                gmt
            ),
        ]
    );
    assert_eq!(
        etas(&records),
        [("EA123456785US", Some(utc("2024-04-06T19:00:00Z")))]
    );
}

/// One scan as USPS may write it: local only, local + GMT + offset, GMT + offset, GMT only; with
/// `"01"` or `"1"`. All the same event.
#[test]
fn the_same_scan_gets_one_id_whichever_time_fields_and_padding_it_comes_with() {
    let spellings = [
        r#""eventCode":"01","eventTimestamp":"2024-11-22T13:58:00""#,
        r#""eventCode":"01","eventTimestamp":"2024-11-22T13:58:00","GMTTimestamp":"2024-11-22T21:58:40Z","GMTOffset":"-08:00""#,
        r#""eventCode":"1","GMTTimestamp":"2024-11-22T21:58:40Z","GMTOffset":"-8:00""#,
        r#""eventCode":" 01 ","GMTTimestamp":"2024-11-22T21:58:59.999Z""#,
        r#""eventCode":"01","eventTimestamp":"2024-11-22T13:58:00","GMTTimestamp":"2024-11-22T21:58:40Z""#,
    ];
    let mut ids = Vec::new();
    for fields in spellings {
        let payload = format!(
            r#"{{"trackingNumber":" 9434650899563012345678 ","trackingEvents":[{{{fields},"eventType":"Delivered","eventCity":"SEATTLE","eventState":"WA","eventCountry":null}}]}}"#
        );
        let records = parse(payload.as_bytes()).unwrap();
        let [(tn, id, event)] = events(&records)[..] else {
            panic!("one event for {fields}")
        };
        assert_eq!(tn, "9434650899563012345678");
        assert_eq!(event.status, Status::Delivered, "{fields}");
        assert_eq!(event.utc_offset_seconds, -8 * 3600, "{fields}");
        ids.push(id.to_string());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        ids[0],
        event_id(
            "usps",
            "9434650899563012345678",
            "1",
            utc("2024-11-22T21:58:00Z"),
            &[]
        )
    );
    // And the delivered scan of the fixture is that same event.
    let fixture_ids: Vec<String> =
        events(&parse(&fixture("delivered_parcel_locker.json")).unwrap())
            .into_iter()
            .filter(|(_, _, e)| e.carrier_code == "01")
            .map(|(_, id, _)| id.to_string())
            .collect();
    assert_eq!(fixture_ids, [ids[0].clone()]);
}

#[test]
fn per_item_errors_are_skipped_not_failed() {
    let parsed = parse_all(&fixture("item_errors.json")).unwrap();
    assert_eq!(events(&parsed.records).len(), 1);
    let skipped: Vec<(Option<&str>, &str, &str)> = parsed
        .skipped
        .iter()
        .map(|s| match &s.why {
            SkipReason::ItemError { message } => (
                s.tracking_number.as_deref(),
                s.carrier_code.as_str(),
                message.as_str(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (
                Some("9400111899223197428491"),
                "404",
                "The tracking number may be incorrect or the status update is not yet available."
            ),
            (None, "400", "trackingNumber must be 13 to 34 characters"),
        ]
    );
}

#[test]
fn multi_shipment_payloads_split_per_number_and_lose_nothing() {
    let payload = fixture("multi_shipment.json");
    let whole = parse_all(&payload).unwrap();
    let splits = UspsV3.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "9400111899223197428490",
            "9400109205328003425036",
            "9400111899223197428491"
        ]
    );
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for split in &splits {
        let part = parse_all(&split.payload).unwrap();
        assert!(part
            .records
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        records.extend(part.records.iter().map(|r| format!("{r:?}")));
        skipped.extend(part.skipped);
    }
    let mut expected: Vec<String> = whole.records.iter().map(|r| format!("{r:?}")).collect();
    expected.sort();
    records.sort();
    assert_eq!(expected, records);
    assert_eq!(
        whole.skipped, skipped,
        "the error item travels with its number"
    );
    // One shipment: the bytes themselves.
    let single = fixture("delivered_parcel_locker.json");
    let splits = UspsV3.split(&single).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(
        (splits[0].tracking_number.as_str(), &splits[0].payload),
        ("9434650899563012345678", &single)
    );
}

#[test]
fn every_row_of_the_mapping_is_what_carriers_md_says() {
    let records = parse(&fixture("every_code.json")).unwrap();
    let events = events(&records);
    assert_eq!(
        events.len(),
        56,
        "54 mapped codes, one unknown, one without a code"
    );
    let by_code = |code: &str| {
        events
            .iter()
            .find(|(_, _, e)| e.carrier_code == code)
            .map(|(_, _, e)| (e.status, classification(e), e.flags.clone()))
            .unwrap()
    };
    use Status::*;
    for (code, status) in [
        ("MA", InfoReceived),
        ("GX", InfoReceived),
        ("03", InTransit),
        ("71", InTransit),
        ("OF", OutForDelivery),
        ("02", FailedAttempt),
        ("51", FailedAttempt),
        ("14", AvailableForPickup),
        ("16", AvailableForPickup),
        ("01", Delivered),
        ("17", Delivered),
        ("43", Delivered),
        ("04", Exception),
        ("DX", Exception),
        ("09", ReturnedToSender),
        ("31", ReturnedToSender),
        ("ZZ", Unknown),
        ("", Unknown),
    ] {
        assert_eq!(by_code(code).0, status, "{code}");
    }
    assert_eq!(
        by_code("08"),
        (
            InTransit,
            "in_transit/in_transit/missent".to_string(),
            vec!["missent".to_string()]
        ),
        "missent keeps its status and carries the incident flag"
    );
    assert_eq!(
        by_code("56").1,
        "delivery/attempt/recipient_unavailable",
        "same vocabulary as FedEx"
    );
    let (_, _, uncoded) = events.last().unwrap();
    assert_eq!(
        uncoded.carrier_description.as_deref(),
        Some("Status not coded")
    );
}
