//! Properties: `parse` and `split` never panic, whatever the bytes (11,000 cases in all: arbitrary
//! bytes, field-level edits of the fixture files, byte edits), and what they return stays
//! coherent: events oldest first, and one piece per data line that parses back, with the header
//! in its context, to exactly the records of the whole file.

use gluey_carriers::csv_feed::{piece_context, CsvFeed};
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;

use super::{fixture, parse_file, parse_with, FILES};

fn check(carrier: &str, payload: &[u8]) -> Result<(), TestCaseError> {
    let parsed = parse_file(carrier, payload).map(|p| p.records);
    let split = CsvFeed.split(payload);
    if let Ok(records) = &parsed {
        let times: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                ParsedRecord::Event { event, .. } => Some(event.occurred_at),
                ParsedRecord::Update { .. } => None,
            })
            .collect();
        prop_assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "events not oldest first"
        );
        prop_assert!(records.iter().all(|r| !r.tracking_number().is_empty()));
    }
    if let (Ok(whole), Ok(splits)) = (&parsed, &split) {
        let context = piece_context(payload);
        let mut from_splits = Vec::new();
        for part in splits {
            let records = parse_with(carrier, &part.payload, &context).map(|p| p.records);
            prop_assert!(
                records.is_ok(),
                "a line of a parseable file fails: {:?}",
                records
            );
            let records = records.unwrap_or_default();
            prop_assert!(records
                .iter()
                .all(|r| r.tracking_number() == part.tracking_number));
            from_splits.extend(records.iter().map(|r| format!("{r:?}")));
        }
        let mut whole: Vec<String> = whole.iter().map(|r| format!("{r:?}")).collect();
        whole.sort();
        from_splits.sort();
        prop_assert_eq!(whole, from_splits);
    }
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "H",
            "E",
            "T",
            "X",
            "tracking_number",
            "event_date",
            "'155",
            "=\"155\"",
            "001",
            "015",
            "4_courier",
            "ZZ",
            "03/06/2024",
            "31/03/2024",
            "27/10/2024",
            "06/13/2024",
            "3/6/24",
            "2024-06-03",
            "03/06/2024 07:52",
            "07:52",
            "7:52",
            "0752",
            "25:00",
            "23:59:59",
            "+01:00",
            "-0530",
            "BST",
            "Europe/London",
            "Mars/Base",
            "GB",
            "UK",
            "FR",
            "US",
            "12:10-13:10",
            "12:10 - 13:10",
            "-",
            "\"",
            "\"\"",
            "\"a,b\"",
            ",",
            ";",
            "\r",
            "\n",
            "not delivered",
            "delivered",
            "é",
            "\u{feff}",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,8}",
        "\\PC{0,8}",
    ]
}

/// A fixture as lines of raw fields (split on the delimiter, quotes left as they are).
fn table(name: &str) -> (Vec<Vec<String>>, char) {
    let text = String::from_utf8_lossy(&fixture(name)).to_string();
    let delimiter = if text.lines().next().unwrap_or_default().contains(';') {
        ';'
    } else {
        ','
    };
    let rows = text
        .split('\n')
        .map(|l| {
            l.trim_end_matches('\r')
                .split(delimiter)
                .map(str::to_string)
                .collect()
        })
        .collect();
    (rows, delimiter)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), carrier in prop::sample::select(vec!["dpd", "evri", "yodel", "", "other"])) {
        check(carrier, &bytes)?;
    }

    #[test]
    fn mutated_fields_never_panic(
        which in 0..FILES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), 0u8..4, token()), 1..6),
    ) {
        let (name, carrier) = FILES[which];
        let (mut rows, delimiter) = table(name);
        for (at, field, op, token) in edits {
            if rows.is_empty() {
                break;
            }
            let at = at % rows.len();
            match op {
                0 => {
                    let row = &mut rows[at];
                    let field = field % (row.len() + 1);
                    if field == row.len() {
                        row.push(token);
                    } else {
                        row[field] = token;
                    }
                }
                1 => {
                    rows.remove(at);
                }
                2 => {
                    let copy = rows[at].clone();
                    rows.insert(at, copy);
                }
                _ => {
                    let other = field % rows.len();
                    rows.swap(at, other);
                }
            }
        }
        let text: Vec<String> = rows.iter().map(|r| r.join(&delimiter.to_string())).collect();
        check(carrier, text.join("\r\n").as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn mutated_fixture_bytes_never_panic(
        which in 0..FILES.len(),
        edits in prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6),
    ) {
        let (name, carrier) = FILES[which];
        let mut bytes = fixture(name);
        super::byte_mutation::mutate_bytes(&mut bytes, edits);
        check(carrier, &bytes)?;
    }
}
