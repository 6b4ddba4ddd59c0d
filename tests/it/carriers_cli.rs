//! `gluey carriers parse` prints, for every fixture of every format, exactly the golden JSON
//! lines the carrier tests hold (so what a person debugging a carrier sees is what the
//! normalizer's parser does), and `gluey carriers list` lists every format.

use std::path::Path;
use std::process::Command;

#[test]
fn carriers_parse_prints_the_golden_output_for_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("carriers/tests/fixtures");
    let mut checked = 0;
    for format in gluey_carriers::FORMATS {
        let dir = root.join(format.name());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".expected.jsonl") || name.ends_with(".context.json") {
                continue;
            }
            let out = Command::new(env!("CARGO_BIN_EXE_gluey"))
                .args(["carriers", "parse", "--format", format.name()])
                .arg(&path)
                .output()
                .unwrap();
            let golden =
                std::fs::read_to_string(dir.join(format!("{name}.expected.jsonl"))).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                golden,
                "{}",
                path.display()
            );
            let is_error = golden.starts_with("{\"error\"");
            assert_eq!(
                out.status.code(),
                Some(if is_error { 3 } else { 0 }),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= gluey_carriers::FORMATS.len(),
        "at least one fixture per format"
    );
}

#[test]
fn carriers_list_names_every_format_and_its_routes() {
    let out = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(["carriers", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for format in gluey_carriers::FORMATS {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{} ", format.name())))
            .unwrap_or_else(|| panic!("{} listed", format.name()));
        for route in format.routes() {
            assert!(line.contains(route.as_str()), "{line}");
        }
    }
}

#[test]
fn an_unknown_format_is_named_with_the_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(["carriers", "parse", "--format", "pigeon.post", "-"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pigeon.post") && err.contains("fedex.aiv"),
        "{err}"
    );
}
