//! Golden tests for `ups.track` and `ups.alert` against the fixtures in
//! `tests/fixtures/ups.track/` and `tests/fixtures/ups.alert/`: statuses, UTC and local times,
//! offsets and where they came from, ordering, one `event_id` per scan across both routes, and
//! splits that lose nothing. Pushes and poll-vs-push identity, errors, the code table and
//! properties are in `ups/`.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::identity::event_id;
use gluey_carriers::ups::{UpsAlert, UpsTrack};
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Route, Status, UpdateType};
use serde_json::{json, Value};

use records::{classification, events, utc};

mod alert_push;
mod errors;
mod every_code;
mod props;

pub const TRACK_FIXTURES: [&str; 8] = [
    "example.json",
    "in_transit_eta.json",
    "gmt_without_offset.json",
    "local_only.json",
    "not_found.json",
    "multi_shipment.json",
    "error_body.json",
    "every_code.json",
];

pub const ALERT_FIXTURES: [&str; 8] = [
    "out_for_delivery.json",
    "delivered.json",
    "manifest_without_offset.json",
    "gmt_time_lost_zero.json",
    "updated_delivery_date.json",
    "local_only.json",
    "batch.json",
    "error_body.json",
];

pub fn fixture(format: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_as(format: &dyn CarrierFormat, payload: &[u8]) -> Result<Parsed, ParseError> {
    let context = BTreeMap::new();
    format.parse(RawInput {
        carrier: "ups",
        payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

pub fn track(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_as(&UpsTrack, payload).map(|p| p.records)
}

pub fn alert(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_as(&UpsAlert, payload).map(|p| p.records)
}

/// (tracking number, new ETA) of every ETA update, in order.
fn etas(records: &[ParsedRecord]) -> Vec<(&str, DateTime<Utc>)> {
    records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Update {
                tracking_number,
                update,
            } => {
                assert_eq!(update.update_type, UpdateType::EtaChanged);
                Some((tracking_number.as_str(), update.new_eta.unwrap()))
            }
            ParsedRecord::Event { .. } => None,
        })
        .collect()
}

/// (carrier code, UTC, local, offset, offset source, time flags) of every event.
pub type TimeRow = (
    String,
    DateTime<Utc>,
    String,
    i32,
    OffsetSource,
    Vec<String>,
);

pub fn times(records: &[ParsedRecord]) -> Vec<TimeRow> {
    events(records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.clone(),
                e.occurred_at,
                e.occurred_at_local.clone(),
                e.utc_offset_seconds,
                e.offset_source,
                e.time_flags.clone(),
            )
        })
        .collect()
}

pub fn row(code: &str, at: &str, local: &str, offset: i32, source: OffsetSource) -> TimeRow {
    (
        code.to_string(),
        utc(at),
        local.to_string(),
        offset,
        source,
        Vec::new(),
    )
}

fn flagged(mut row: TimeRow, flag: &str) -> TimeRow {
    row.5.push(flag.to_string());
    row
}

#[test]
fn both_formats_are_registered_under_one_carrier_and_one_table() {
    let track = gluey_carriers::format("ups.track").unwrap();
    let alert = gluey_carriers::format("ups.alert").unwrap();
    assert_eq!((track.carrier(), alert.carrier()), ("ups", "ups"));
    assert_eq!(track.routes(), [Route::Api]);
    assert_eq!(alert.routes(), [Route::Webhook]);
    assert!(std::ptr::eq(
        track.mapping().unwrap(),
        alert.mapping().unwrap()
    ));
    assert_eq!(track.mapping().unwrap().file, "ups.json");
}

#[test]
fn carriers_md_track_example_gives_four_events_oldest_first() {
    let records = track(&fixture("ups.track", "example.json")).unwrap();
    let tn = "1Z999AA10123456784";
    type Summary<'a> = (&'a str, Option<&'a str>, Status, String, Option<&'a str>);
    let summary: Vec<Summary<'_>> = events(&records)
        .into_iter()
        .map(|(number, _, e)| {
            assert_eq!(number, tn);
            (
                e.carrier_code.as_str(),
                e.carrier_sub_code.as_deref(),
                e.status,
                classification(e),
                e.signed_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "003",
                Some("MP"),
                Status::InfoReceived,
                "order/info_received/".into(),
                None
            ),
            (
                "005",
                Some("AR"),
                Status::InTransit,
                "in_transit/arrived_at_carrier_facility/".into(),
                None
            ),
            (
                "021",
                Some("OT"),
                Status::OutForDelivery,
                "delivery/out_for_delivery/".into(),
                None
            ),
            (
                "011",
                Some("FS"),
                Status::Delivered,
                "delivery/delivered/".into(),
                Some("JOHN")
            ),
        ]
    );
    let gmt = OffsetSource::CarrierGmtField;
    assert_eq!(
        times(&records),
        [
            row(
                "003",
                "2024-04-19T19:05:33Z",
                "2024-04-19T15:05:33",
                -14400,
                gmt
            ),
            // gmtTime "63100": a lost leading zero, 06:31:00Z.
            row(
                "005",
                "2024-04-22T06:31:00Z",
                "2024-04-22T02:31:00",
                -14400,
                gmt
            ),
            row(
                "021",
                "2024-04-23T13:15:19Z",
                "2024-04-23T09:15:19",
                -14400,
                gmt
            ),
            row(
                "011",
                "2024-04-23T13:50:04Z",
                "2024-04-23T09:50:04",
                -14400,
                gmt
            ),
        ]
    );
    for ((_, id, event), code) in events(&records).into_iter().zip(["3", "5", "21", "11"]) {
        assert_eq!(id, event_id("ups", tn, code, event.occurred_at, &[]));
    }
    let delivered = events(&records)[3].2;
    let place = delivered.location.as_ref().unwrap();
    assert_eq!(
        (
            place.city.as_deref(),
            place.region.as_deref(),
            place.postal_code.as_deref(),
            place.country_iso2.as_deref()
        ),
        (Some("CHARLOTTE"), Some("NC"), Some("28209"), Some("US"))
    );
    assert!(etas(&records).is_empty(), "a DEL date means no ETA");
}

#[test]
fn activities_are_reversed_ties_keep_reversed_order_and_005_is_split_by_activity_code() {
    let records = track(&fixture("ups.track", "in_transit_eta.json")).unwrap();
    let summary: Vec<(&str, Option<&str>, String, Option<&str>)> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.carrier_sub_code.as_deref(),
                classification(e),
                e.location
                    .as_ref()
                    .and_then(|l| l.carrier_location_code.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("003", Some("MP"), "order/info_received/".into(), None),
            (
                "005",
                Some("OR"),
                "in_transit/arrived_at_carrier_facility/origin".into(),
                Some("0742")
            ),
            // Same instant: UPS lists DP before IP, so oldest first is IP, then DP.
            (
                "010",
                Some("IP"),
                "in_transit/in_transit/".into(),
                Some("6069")
            ),
            (
                "005",
                Some("DP"),
                "in_transit/departed_carrier_facility/".into(),
                Some("6069")
            ),
            (
                "005",
                Some("AR"),
                "in_transit/arrived_at_carrier_facility/".into(),
                Some("9172")
            ),
            (
                "071",
                Some("YP"),
                "delivery/preparing_for_delivery/".into(),
                Some("9031")
            ),
        ]
    );
    let gmt = OffsetSource::CarrierGmtField;
    let times = times(&records);
    // gmtTime "74700" at -05:00; gmtTime "61500" at -08:00 (the previous local day).
    assert_eq!(
        times[0],
        row(
            "003",
            "2024-01-15T07:47:00Z",
            "2024-01-15T02:47:00",
            -18000,
            gmt
        )
    );
    assert_eq!(
        times[4],
        row(
            "005",
            "2024-01-17T06:15:00Z",
            "2024-01-16T22:15:00",
            -28800,
            gmt
        )
    );
    // RDD wins over SDD; the EDW window's end, in the destination's zone (Los Angeles, PST).
    assert_eq!(
        etas(&records),
        [("1Z023E2X0214323462", utc("2024-01-19T01:00:00Z"))]
    );
}

#[test]
fn eta_without_a_window_is_end_of_day_where_the_package_last_was_and_none_once_delivered() {
    let mut payload: Value =
        serde_json::from_slice(&fixture("ups.track", "in_transit_eta.json")).unwrap();
    let package = &mut payload["trackResponse"]["shipment"][0]["package"][0];
    package.as_object_mut().unwrap().remove("packageAddress");
    package["deliveryTime"] = json!({"type": "EOD", "endTime": "170000"});
    let records = track(&serde_json::to_vec(&payload).unwrap()).unwrap();
    // No destination: the newest activity (Los Angeles); EOD: 23:59:59 local.
    assert_eq!(
        etas(&records),
        [("1Z023E2X0214323462", utc("2024-01-19T07:59:59Z"))]
    );
    let package = &mut payload["trackResponse"]["shipment"][0]["package"][0];
    package["deliveryDate"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "DEL", "date": "20240118"}));
    assert!(etas(&track(&serde_json::to_vec(&payload).unwrap()).unwrap()).is_empty());
}

#[test]
fn gmt_fields_without_an_offset_and_an_offset_without_gmt_fields() {
    let records = track(&fixture("ups.track", "gmt_without_offset.json")).unwrap();
    let gmt = OffsetSource::CarrierGmtField;
    assert_eq!(
        times(&records),
        [
            // Local 10:15:00, GMT 09:15:00: +01:00 from the two clocks.
            row(
                "005",
                "2024-07-01T09:15:00Z",
                "2024-07-01T10:15:00",
                3600,
                gmt
            ),
            // GMT alone in Koeln: the location's zone gives the offset.
            row(
                "005",
                "2024-07-01T12:00:00Z",
                "2024-07-01T14:00:00",
                7200,
                OffsetSource::InferredFromLocation
            ),
            // Local 08:00 and gmtOffset "+0200", no GMT date and time.
            row(
                "005",
                "2024-07-02T06:00:00Z",
                "2024-07-02T08:00:00",
                7200,
                gmt
            ),
            // Local 10:10:12 and GMT 09:10:00: 12 s of drift, still +01:00; the GMT time wins.
            row(
                "021",
                "2024-07-02T09:10:00Z",
                "2024-07-02T10:10:00",
                3600,
                gmt
            ),
        ]
    );
}

#[test]
fn local_times_resolve_from_the_location_with_dst_flags() {
    let records = track(&fixture("ups.track", "local_only.json")).unwrap();
    let inferred = OffsetSource::InferredFromLocation;
    let assumed = OffsetSource::AssumedDefault;
    assert_eq!(
        times(&records),
        [
            // US without a state: UPS's home zone, New York, flagged assumed.
            row(
                "003",
                "2024-01-15T17:00:00Z",
                "2024-01-15T12:00:00",
                -18000,
                assumed
            ),
            // 02:30 on the spring-forward night does not exist in North Carolina.
            flagged(
                row(
                    "005",
                    "2024-03-10T07:30:00Z",
                    "2024-03-10T02:30:00",
                    -18000,
                    inferred
                ),
                "nonexistent_local_time"
            ),
            row(
                "005",
                "2024-07-01T09:00:00Z",
                "2024-07-01T10:00:00",
                3600,
                inferred
            ),
            // Malaysia is not in the zone table: UTC, flagged assumed.
            row(
                "005",
                "2024-07-01T10:00:00Z",
                "2024-07-01T10:00:00",
                0,
                assumed
            ),
            // time "93000": 09:30:00 EDT.
            row(
                "005",
                "2024-07-01T13:30:00Z",
                "2024-07-01T09:30:00",
                -14400,
                inferred
            ),
            // 01:30 on the fall-back night happens twice: the earlier (EDT).
            flagged(
                row(
                    "032",
                    "2024-11-03T05:30:00Z",
                    "2024-11-03T01:30:00",
                    -14400,
                    inferred
                ),
                "ambiguous_local_time"
            ),
        ]
    );
}

#[test]
fn tw0001_inside_a_200_is_a_skipped_item_and_keeps_its_number_for_the_split() {
    let payload = fixture("ups.track", "not_found.json");
    let parsed = parse_as(&UpsTrack, &payload).unwrap();
    assert_eq!(parsed.records, []);
    assert_eq!(parsed.skipped.len(), 1);
    let skipped = &parsed.skipped[0];
    assert_eq!(
        skipped.tracking_number.as_deref(),
        Some("1ZNOTFOUND0000001")
    );
    assert_eq!(skipped.carrier_code, "TW0001");
    assert_eq!(
        skipped.why,
        SkipReason::ItemError {
            message: "Tracking Information Not Found".into()
        }
    );
    let splits = UpsTrack.split(&payload).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(
        (splits[0].tracking_number.as_str(), &splits[0].payload),
        ("1ZNOTFOUND0000001", &payload)
    );
}

/// Parses every split and checks it gives back exactly the records of the whole.
pub fn assert_split_round_trips(
    format: &dyn CarrierFormat,
    payload: &[u8],
    numbers: &[&str],
) -> Vec<Vec<u8>> {
    let whole = parse_as(format, payload).unwrap().records;
    let splits = format.split(payload).unwrap();
    let got: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(got, numbers);
    let mut parts = Vec::new();
    for split in &splits {
        let part = parse_as(format, &split.payload).unwrap().records;
        assert!(part
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        parts.extend(part);
    }
    let key = |r: &ParsedRecord| format!("{r:?}");
    let mut whole: Vec<String> = whole.iter().map(key).collect();
    let mut parts: Vec<String> = parts.iter().map(key).collect();
    whole.sort();
    parts.sort();
    assert_eq!(whole, parts, "splitting loses and invents nothing");
    splits.into_iter().map(|s| s.payload).collect()
}

#[test]
fn multi_shipment_response_parses_every_package_and_splits_per_number() {
    let payload = fixture("ups.track", "multi_shipment.json");
    let parsed = parse_as(&UpsTrack, &payload).unwrap();
    let summary: Vec<(&str, &str, DateTime<Utc>)> = events(&parsed.records)
        .into_iter()
        .map(|(tn, _, e)| (tn, e.carrier_code.as_str(), e.occurred_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("1ZMULTI0000000001", "005", utc("2024-04-22T06:31:00Z")),
            ("1ZMULTI0000000028", "005", utc("2024-04-22T22:30:00Z")),
            // statusCode 21 and gmtTime 131519 sent as JSON numbers.
            ("1ZMULTI0000000001", "21", utc("2024-04-23T13:15:19Z")),
        ]
    );
    // The same scan as the CARRIERS.md example's "021", under another number: same code part.
    let (_, id, ofd) = events(&parsed.records)[2];
    assert_eq!(
        id,
        event_id("ups", "1ZMULTI0000000001", "21", ofd.occurred_at, &[])
    );
    // SDD with an EOD time: 23:59:59 in Atlanta (the newest activity), EDT.
    assert_eq!(
        etas(&parsed.records),
        [("1ZMULTI0000000028", utc("2024-04-25T03:59:59Z"))]
    );
    assert_eq!(parsed.skipped.len(), 1, "the TW0001 shipment");

    let pieces = assert_split_round_trips(
        &UpsTrack,
        &payload,
        &[
            "1ZMULTI0000000001",
            "1ZMULTI0000000028",
            "1ZNOTFOUND0000001",
        ],
    );
    let piece: Value = serde_json::from_slice(&pieces[0]).unwrap();
    let shipment = &piece["trackResponse"]["shipment"][0];
    assert_eq!(shipment["inquiryNumber"], "1ZMULTI0000000001");
    assert_eq!(shipment["package"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        parse_as(&UpsTrack, &pieces[2]).unwrap().skipped,
        parsed.skipped
    );
}

#[test]
fn two_scans_with_one_status_code_in_one_minute_share_an_id_as_documented() {
    // The cost of the identity: arrival and departure (both 005) in the same minute.
    let payload = br#"{"trackResponse":{"shipment":[{"package":[{"trackingNumber":"1Z1",
        "activity":[
          {"gmtDate":"20240101","gmtTime":"120059","gmtOffset":"+00:00","status":{"type":"I","code":"DP","statusCode":"005"}},
          {"gmtDate":"20240101","gmtTime":"120001","gmtOffset":"+00:00","status":{"type":"I","code":"AR","statusCode":"005"}}]}]}]}}"#;
    let records = track(payload).unwrap();
    let ids: Vec<&str> = events(&records).iter().map(|(_, id, _)| *id).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
}
