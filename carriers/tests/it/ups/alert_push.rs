//! `ups.alert` pushes, and the same scans arriving by poll and by push.

use chrono::{DateTime, Utc};
use gluey_carriers::identity::event_id;
use gluey_carriers::ups::UpsAlert;
use gluey_carriers::{CarrierFormat, SkipReason};
use gluey_contract::{OffsetSource, Status};
use serde_json::Value;

use super::{
    alert, assert_split_round_trips, classification, events, fixture, parse_as, row, times, track,
    utc,
};

#[test]
fn the_same_scan_gets_the_same_id_and_content_by_poll_and_by_push() {
    let polled = track(&fixture("ups.track", "example.json")).unwrap();
    let polled = events(&polled);
    for (name, code) in [("out_for_delivery.json", "021"), ("delivered.json", "011")] {
        let pushed = alert(&fixture("ups.alert", name)).unwrap();
        let [(tn, id, pushed)] = events(&pushed)[..] else {
            panic!("{name}: one event")
        };
        let (polled_tn, polled_id, polled) = *polled
            .iter()
            .find(|(_, _, e)| e.carrier_code == code)
            .unwrap();
        assert_eq!((tn, id), (polled_tn, polled_id), "{name}");
        // The push says "-04.00" and type I/D, the poll "-04:00": the same event all the same.
        let (a, b) = (pushed, polled);
        assert_eq!(a.status, b.status);
        assert_eq!(classification(a), classification(b));
        assert_eq!(a.occurred_at, b.occurred_at);
        assert_eq!(a.occurred_at_local, b.occurred_at_local);
        assert_eq!(a.utc_offset_seconds, b.utc_offset_seconds);
        assert_eq!(a.offset_source, b.offset_source);
        assert_eq!(a.signed_by, b.signed_by);
    }
    // A push without GMT fields (London, resolved from the location) and a poll whose local and
    // GMT clocks are 12 seconds apart: the same minute, the same id.
    let one = |format: &str, name: &str, code: &str| -> String {
        let records = match format {
            "ups.track" => track(&fixture(format, name)).unwrap(),
            _ => alert(&fixture(format, name)).unwrap(),
        };
        let (_, id, _) = *events(&records)
            .iter()
            .find(|(_, _, e)| e.carrier_code == code)
            .unwrap();
        id.to_string()
    };
    assert_eq!(
        one("ups.alert", "local_only.json", "021"),
        one("ups.track", "gmt_without_offset.json", "021")
    );
    // gmtTime "74700" in both routes, at "-05.00" and "-05:00".
    assert_eq!(
        one("ups.alert", "gmt_time_lost_zero.json", "003"),
        one("ups.track", "in_transit_eta.json", "003")
    );
}

#[test]
fn push_without_gmt_offset_takes_the_offset_between_its_two_clocks() {
    // UPS's own manifest example: local 09:12:30, GMT 04:12:30, no offset, " 1Z…" with a space.
    let records = alert(&fixture("ups.alert", "manifest_without_offset.json")).unwrap();
    let [(tn, id, event)] = events(&records)[..] else {
        panic!("one event")
    };
    assert_eq!(tn, "1ZABCXYZ0112346789");
    assert_eq!(event.status, Status::InfoReceived);
    assert_eq!(
        times(&records),
        [row(
            "003",
            "2024-04-22T04:12:30Z",
            "2024-04-22T09:12:30",
            5 * 3600,
            OffsetSource::CarrierGmtField
        )]
    );
    assert_eq!(
        id,
        event_id("ups", "1ZABCXYZ0112346789", "3", event.occurred_at, &[])
    );
    assert_eq!(
        event.location.as_ref().unwrap().region,
        None,
        "blank is absent"
    );
}

#[test]
fn an_updated_delivery_date_is_not_a_tracking_event() {
    let parsed = parse_as(
        &UpsAlert,
        &fixture("ups.alert", "updated_delivery_date.json"),
    )
    .unwrap();
    assert_eq!(parsed.records, []);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].carrier_code, "154");
    assert!(matches!(
        parsed.skipped[0].why,
        SkipReason::NoStatusChange { .. }
    ));
}

#[test]
fn a_batch_of_pushes_is_sorted_by_time_and_split_per_number() {
    let payload = fixture("ups.alert", "batch.json");
    let records = alert(&payload).unwrap();
    let summary: Vec<(&str, &str, Status, DateTime<Utc>)> = events(&records)
        .into_iter()
        .map(|(tn, _, e)| (tn, e.carrier_code.as_str(), e.status, e.occurred_at))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "1ZABCXYZ0112346789",
                "005",
                Status::InTransit,
                utc("2024-04-23T01:29:01Z")
            ),
            (
                "1ZABCXYZ0112346789",
                "005",
                Status::InTransit,
                utc("2024-04-23T02:54:00Z")
            ),
            (
                "1ZABCXYZ0112346789",
                "071",
                Status::InTransit,
                utc("2024-04-23T04:30:52Z")
            ),
            // Track Alert type D on a loaded-on-vehicle scan: the code decides, not the type.
            (
                "1Z204W4R0308071865",
                "072",
                Status::OutForDelivery,
                utc("2024-04-23T10:39:36Z")
            ),
        ]
    );
    let pieces = assert_split_round_trips(
        &UpsAlert,
        &payload,
        &["1ZABCXYZ0112346789", "1Z204W4R0308071865"],
    );
    let json = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
    assert_eq!(json(&pieces[0]).as_array().map(Vec::len), Some(3));
    assert!(json(&pieces[1]).is_object(), "one push: the push itself");
    let single = fixture("ups.alert", "out_for_delivery.json");
    let splits = UpsAlert.split(&single).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(
        (splits[0].tracking_number.as_str(), &splits[0].payload),
        ("1Z999AA10123456784", &single)
    );
}
