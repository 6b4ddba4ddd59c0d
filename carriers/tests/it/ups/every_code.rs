//! The mapping file against CARRIERS.md's UPS status table (1.7), transcribed here on its own:
//! every statusCode the table lists is in the coverage fixture, and each maps to the table's
//! status (or is skipped when the table says "no status change"). The description rules are
//! the only departures, and they are listed. `tests/fixtures.rs` proves the fixture reaches every
//! row of the mapping file; this proves what the rows say.

use std::collections::BTreeMap;

use gluey_carriers::SkipReason;
use gluey_contract::Status;

use super::{classification, events, fixture, parse_as};
use gluey_carriers::ups::UpsTrack;

fn expand(spec: &[(u32, u32)]) -> Vec<u32> {
    spec.iter().flat_map(|&(from, to)| from..=to).collect()
}

/// CARRIERS.md 1.7, "Status/description codes → canonical", one line per row of that table.
fn carriers_md() -> BTreeMap<u32, Option<Status>> {
    use Status::*;
    let table: [(Option<Status>, Vec<u32>); 9] = [
        (
            Some(InfoReceived),
            expand(&[
                (3, 3),
                (157, 157),
                (77, 77),
                (79, 80),
                (166, 166),
                (44, 45),
                (65, 65),
            ]),
        ),
        (
            Some(InTransit),
            expand(&[
                (5, 5),
                (10, 10),
                (25, 25),
                (39, 39),
                (47, 47),
                (87, 87),
                (158, 159),
                (164, 165),
                (12, 12),
                (92, 92),
                (14, 14),
                (134, 134),
                (84, 84),
                (16, 16),
                (38, 38),
                (160, 160),
                (167, 169),
                (57, 57),
                (70, 71),
                (73, 75),
                (137, 138),
                (18, 18),
                (27, 28),
                (54, 56),
                (63, 63),
                (82, 82),
                (95, 117),
                (120, 122),
            ]),
        ),
        (
            Some(OutForDelivery),
            expand(&[
                (6, 6),
                (21, 21),
                (37, 37),
                (89, 89),
                (91, 91),
                (146, 146),
                (162, 162),
                (72, 72),
                (78, 78),
            ]),
        ),
        (
            Some(FailedAttempt),
            expand(&[(22, 24), (60, 62), (66, 66), (145, 145)]),
        ),
        (
            Some(AvailableForPickup),
            expand(&[(17, 17), (40, 40), (144, 144), (161, 161)]),
        ),
        (Some(Delivered), expand(&[(11, 11), (26, 26), (143, 143)])),
        (
            Some(Exception),
            expand(&[
                (13, 13),
                (29, 30),
                (76, 76),
                (32, 32),
                (46, 46),
                (48, 49),
                (51, 53),
                (86, 86),
                (90, 90),
                (132, 132),
                (50, 50),
                (58, 58),
                (124, 125),
                (141, 141),
                (59, 59),
                (64, 64),
                (68, 69),
                (83, 83),
                (85, 85),
                (123, 123),
                (126, 126),
                (131, 131),
                (135, 135),
                (147, 147),
                (149, 149),
                (7, 7),
                (43, 43),
                (19, 20),
            ]),
        ),
        (
            Some(ReturnedToSender),
            expand(&[
                (33, 33),
                (119, 119),
                (118, 118),
                (34, 36),
                (67, 67),
                (81, 81),
            ]),
        ),
        (
            None,
            expand(&[
                (0, 0),
                (148, 148),
                (163, 163),
                (153, 155),
                (88, 88),
                (127, 130),
                (140, 140),
                (142, 142),
            ]),
        ),
    ];
    let mut by_code = BTreeMap::new();
    for (status, codes) in table {
        for code in codes {
            assert!(
                by_code.insert(code, status).is_none(),
                "{code} is in two rows of the transcription"
            );
        }
    }
    by_code
}

#[test]
fn every_status_code_maps_as_carriers_md_says() {
    let parsed = parse_as(&UpsTrack, &fixture("ups.track", "every_code.json")).unwrap();
    let table = carriers_md();
    let mut seen: BTreeMap<u32, Vec<(Status, String)>> = BTreeMap::new();
    for (_, _, event) in events(&parsed.records) {
        if let Ok(code) = event.carrier_code.parse::<u32>() {
            seen.entry(code)
                .or_default()
                .push((event.status, classification(event)));
        }
    }
    let skipped: Vec<u32> = parsed
        .skipped
        .iter()
        .filter(|s| matches!(s.why, SkipReason::NoStatusChange { .. }))
        .filter_map(|s| s.carrier_code.parse().ok())
        .collect();
    for (&code, &status) in &table {
        match status {
            None => assert!(skipped.contains(&code), "{code} is no status change"),
            Some(status) => {
                let got = seen
                    .get(&code)
                    .unwrap_or_else(|| panic!("{code} is not in the fixture"));
                // The fixture's catch-all case of each code comes last.
                let (catch_all, _) = got.last().unwrap();
                assert_eq!(*catch_all, status, "statusCode {code}");
            }
        }
    }
    // Codes the table does not list stay unknown.
    assert_eq!(seen.get(&1).map(|v| v[0].0), Some(Status::Unknown));
    // The description rules: the only departures from the statusCode.
    assert_eq!(
        seen[&11][0],
        (
            Status::AvailableForPickup,
            "delivery/available_for_pickup/access_point".to_string()
        ),
        "011 'Delivered to UPS Access Point'"
    );
    for code in [13, 29, 30, 76] {
        assert_eq!(
            seen[&code][0],
            (
                Status::FailedAttempt,
                "delivery/attempt/recipient_unavailable".to_string()
            ),
            "{code} 'receiver was not available'"
        );
    }
    // 005 "On the Way", refined by the activity code (a reason): origin, arrival, departure.
    let on_the_way: Vec<&str> = seen[&5].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        on_the_way,
        [
            "in_transit/arrived_at_carrier_facility/origin",
            "in_transit/arrived_at_carrier_facility/",
            "in_transit/departed_carrier_facility/",
            "in_transit/in_transit/",
        ]
    );
    let extra_cases: usize = seen.values().map(|v| v.len() - 1).sum();
    assert_eq!(extra_cases, 5 + 3, "only these rules add cases to a code");
    // Activity codes alone (no statusCode), including the type-dependent DP.
    let by_activity_code: Vec<(&str, Status)> = events(&parsed.records)
        .into_iter()
        .filter(|(_, _, e)| e.carrier_code.parse::<u32>().is_err())
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status))
        .collect();
    assert_eq!(
        by_activity_code,
        [
            ("MP", Status::InfoReceived),
            ("DP", Status::InfoReceived),
            ("DP", Status::InTransit),
            ("RD", Status::InfoReceived),
            ("VP", Status::Exception),
            ("OR", Status::InTransit),
            ("AR", Status::InTransit),
            ("OT", Status::OutForDelivery),
            ("FS", Status::Delivered),
            ("ZZ", Status::Unknown),
            ("DP", Status::Unknown),
        ]
    );
    let skipped_activity_codes: Vec<&str> = parsed
        .skipped
        .iter()
        .map(|s| s.carrier_code.as_str())
        .filter(|c| c.parse::<u32>().is_err())
        .collect();
    assert_eq!(skipped_activity_codes, ["UT", "UP", "PX"]);
    // The signature goes on delivered events only.
    for (_, _, event) in events(&parsed.records) {
        assert_eq!(
            event.signed_by.is_some(),
            event.status == Status::Delivered,
            "{}",
            event.carrier_code
        );
    }
}
