//! `gluey carriers`: for people who debug carriers. `list` shows every format, the routes it
//! arrives by and the codes its mapping knows; `parse` prints what the normalizer's parser makes
//! of a payload, as JSON lines (records, skipped items, or the error with its reason).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use gluey_carriers::{render, RawInput, FORMATS};

#[derive(Debug, Subcommand)]
pub enum CarriersCommand {
    /// Every format: name, carrier, routes, mapped codes.
    List,
    /// Parse one payload and print the canonical records as JSON lines.
    Parse(ParseArgs),
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Format name, as `gluey carriers list` shows it (e.g. fedex.aiv).
    #[arg(long)]
    pub format: String,
    /// The envelope's carrier (generic formats such as x12.214 and csv.feed); defaults to the
    /// format's own.
    #[arg(long)]
    pub carrier: Option<String>,
    /// File context (`key=value`, repeatable), as ingest records it for file-borne formats.
    #[arg(long = "context", value_parser = parse_pair)]
    pub context: Vec<(String, String)>,
    /// A JSON object of file context; `<file>.context.json` beside the payload is read by default.
    #[arg(long)]
    pub context_file: Option<PathBuf>,
    /// The payload file, or `-` for standard input.
    pub file: PathBuf,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

pub fn run(command: CarriersCommand) -> anyhow::Result<bool> {
    match command {
        CarriersCommand::List => {
            println!(
                "{:<14} {:<10} {:<14} {:>6}  description",
                "format", "carrier", "routes", "codes"
            );
            for format in FORMATS {
                let routes: Vec<&str> = format.routes().iter().map(|r| r.as_str()).collect();
                let codes = format.mapping().map(|m| m.codes().len()).unwrap_or(0);
                println!(
                    "{:<14} {:<10} {:<14} {:>6}  {}",
                    format.name(),
                    format.carrier(),
                    routes.join(","),
                    codes,
                    format.description()
                );
            }
            gluey_carriers::validate_mappings()?;
            Ok(true)
        }
        CarriersCommand::Parse(args) => parse(args),
    }
}

fn parse(args: ParseArgs) -> anyhow::Result<bool> {
    let format = gluey_carriers::format(&args.format).with_context(|| {
        let names: Vec<&str> = FORMATS.iter().map(|f| f.name()).collect();
        format!(
            "--format {:?} is not a known format (known: {})",
            args.format,
            names.join(", ")
        )
    })?;
    let payload = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let sidecar = {
        let mut name = args.file.clone().into_os_string();
        name.push(".context.json");
        PathBuf::from(name)
    };
    let context_file = args
        .context_file
        .clone()
        .or_else(|| sidecar.exists().then_some(sidecar));
    let mut context: BTreeMap<String, String> = match &context_file {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a JSON object of strings", path.display()))?,
        None => BTreeMap::new(),
    };
    let file_carrier = context.remove("_carrier");
    context.extend(args.context);
    let carrier = args
        .carrier
        .or(file_carrier)
        .unwrap_or_else(|| format.carrier().to_string());
    let result = format.parse(RawInput {
        carrier: &carrier,
        payload: &payload,
        context: &context,
        received_at: Utc::now(),
    });
    print!("{}", render::json_lines(&result));
    Ok(result.is_ok())
}
