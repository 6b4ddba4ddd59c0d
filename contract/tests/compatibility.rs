//! Schema evolution is FULL compatible (DESIGN.md): data written with any released version is
//! readable with the current schema and data written with the current schema is readable with
//! every released version. Released versions are frozen copies in `schemas/released/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken assumptions

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use gluey_contract::CONTRACT_SCHEMAS;

#[test]
fn current_schemas_are_full_compatible_with_every_released_version() {
    let mut failures = Vec::new();
    for contract in CONTRACT_SCHEMAS {
        let current = Schema::parse_str(contract.current).unwrap();
        assert!(
            !contract.released.is_empty(),
            "{} has no released version",
            contract.name
        );
        for (version, text) in contract.released {
            let released = Schema::parse_str(text).unwrap();
            if let Err(e) = SchemaCompatibility::can_read(&released, &current) {
                failures.push(format!(
                    "{} v{version} → current (new reader, old data): {e}",
                    contract.name
                ));
            }
            if let Err(e) = SchemaCompatibility::can_read(&current, &released) {
                failures.push(format!(
                    "{} current → v{version} (old reader, new data): {e}",
                    contract.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "FULL compatibility broken:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_checker_rejects_a_breaking_change() {
    // Guards the guard: removing a field without a default from the reader's view must fail.
    let contract = CONTRACT_SCHEMAS
        .iter()
        .find(|c| c.name == "canonical_record")
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(contract.current).unwrap();
    let fields = json["fields"].as_array_mut().unwrap();
    fields.push(serde_json::json!({"name": "added_without_default", "type": "string"}));
    let broken = Schema::parse_str(&json.to_string()).unwrap();
    let current = Schema::parse_str(contract.current).unwrap();
    assert!(SchemaCompatibility::can_read(&current, &broken).is_err());
}

#[test]
fn released_files_are_frozen_copies_on_disk() {
    // The embedded released texts must be what is on disk, and every file on disk must be embedded.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/released");
    for contract in CONTRACT_SCHEMAS {
        let dir = root.join(contract.name);
        let on_disk = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            on_disk,
            contract.released.len(),
            "{}: every released version must be embedded",
            dir.display()
        );
    }
}
