//! The four push routes under test, each with its config section, its credentials (the current
//! secret, the rotation's next one, a wrong one) and payloads built by its simulator, so that a
//! test can run the same checks over every authentication scheme.

use chrono::{DateTime, FixedOffset};
use gluey::dev::carrier_simulator::{
    CarrierClient, PushCredentials, SimulatedCarrier, SimulatedScan, Step,
};
use gluey::dev::{dhl_simulator, direct_simulator, fedex_simulator, ups_simulator};

pub const FEDEX_SECRET_NEXT: &str = "fedex-aiv-next-token";
pub const UPS_API_KEY: &str = "ups-client-id-test";
pub const UPS_CREDENTIAL: &str = "ups-track-alert-credential";
pub const UPS_CREDENTIAL_NEXT: &str = "ups-track-alert-credential-next";
pub const DHL_HEADER: &str = "X-Gluey-Push-Token";
pub const DHL_TOKEN: &str = "dhl-push-token-test";
pub const DHL_TOKEN_NEXT: &str = "dhl-push-token-next";
pub const DIRECT_SECRET: &str = "whsec_c3dpZnRwYXJjZWwtdGVzdC1zZWNyZXQta2V5LTEyMw==";
pub const DIRECT_SECRET_NEXT: &str = "whsec_c3dpZnRwYXJjZWwtbmV4dC1zZWNyZXQta2V5LTQ1Ng==";
pub const DIRECT_CARRIER: &str = "swiftparcel";

/// Every value above that must never reach a log.
pub const SECRETS: &[&str] = &[
    super::FEDEX_SECRET,
    FEDEX_SECRET_NEXT,
    UPS_CREDENTIAL,
    UPS_CREDENTIAL_NEXT,
    DHL_TOKEN,
    DHL_TOKEN_NEXT,
    DIRECT_SECRET,
    DIRECT_SECRET_NEXT,
];

/// The environment a service gets, for the `${…}` in the sections below.
pub fn environment() -> Vec<(String, String)> {
    [
        ("TEST_FEDEX_SECRET", super::FEDEX_SECRET),
        ("TEST_UPS_CREDENTIAL", UPS_CREDENTIAL),
        ("TEST_DHL_TOKEN", DHL_TOKEN),
        ("TEST_DIRECT_SECRET", DIRECT_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A push route and its authentication scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Fedex,
    Ups,
    Dhl,
    Direct,
}

pub const SCHEMES: [Scheme; 4] = [Scheme::Fedex, Scheme::Ups, Scheme::Dhl, Scheme::Direct];

impl Scheme {
    /// The carrier the route files records under (and its metric label).
    pub fn carrier(self) -> &'static str {
        match self {
            Scheme::Fedex => "fedex",
            Scheme::Ups => "ups",
            Scheme::Dhl => "dhl",
            Scheme::Direct => DIRECT_CARRIER,
        }
    }

    pub fn format(self) -> &'static str {
        match self {
            Scheme::Fedex => "fedex.aiv",
            Scheme::Ups => "ups.alert",
            Scheme::Dhl => "dhl.push",
            Scheme::Direct => "direct.v1",
        }
    }

    pub fn simulator(self) -> Box<dyn SimulatedCarrier> {
        match self {
            Scheme::Fedex => Box::new(fedex_simulator::FedexSimulator),
            Scheme::Ups => Box::new(ups_simulator::UpsSimulator),
            Scheme::Dhl => Box::new(dhl_simulator::DhlSimulator),
            Scheme::Direct => Box::new(direct_simulator::DirectSimulator {
                carrier: DIRECT_CARRIER.into(),
            }),
        }
    }

    /// The `[carriers.*]` section: the current secret from the environment, the next one
    /// literal (a rotation in progress), and `limits` (inline table text) when given.
    pub fn config_section(self, limits: Option<&str>) -> String {
        let limits = limits
            .map(|l| format!("limits = {l}\n"))
            .unwrap_or_default();
        match self {
            Scheme::Fedex => format!(
                "[carriers.fedex]\naiv_secrets = [\"${{TEST_FEDEX_SECRET}}\", \"{FEDEX_SECRET_NEXT}\"]\n{limits}\n"
            ),
            Scheme::Ups => format!(
                "[carriers.ups]\napi_keys = [\"{UPS_API_KEY}\"]\ncredentials = [\"${{TEST_UPS_CREDENTIAL}}\", \"{UPS_CREDENTIAL_NEXT}\"]\n{limits}\n"
            ),
            Scheme::Dhl => format!(
                "[carriers.dhl]\nheader = \"{DHL_HEADER}\"\ntokens = [\"${{TEST_DHL_TOKEN}}\", \"{DHL_TOKEN_NEXT}\"]\n{limits}\n"
            ),
            Scheme::Direct => format!(
                "[[carriers.direct.integrators]]\ncarrier = \"{DIRECT_CARRIER}\"\nsecrets = [\"${{TEST_DIRECT_SECRET}}\", \"{DIRECT_SECRET_NEXT}\"]\n{limits}\n"
            ),
        }
    }

    /// Credentials with the current secret (`next`: the rotation's other one).
    pub fn credentials(self, next: bool) -> PushCredentials {
        let pick = |current: &str, other: &str| if next { other } else { current }.to_string();
        match self {
            Scheme::Fedex => PushCredentials::FedexSignature {
                secret: pick(super::FEDEX_SECRET, FEDEX_SECRET_NEXT),
            },
            Scheme::Ups => PushCredentials::UpsCredential {
                api_key: UPS_API_KEY.into(),
                header: "credential".into(),
                credential: pick(UPS_CREDENTIAL, UPS_CREDENTIAL_NEXT),
            },
            Scheme::Dhl => PushCredentials::DhlToken {
                header: DHL_HEADER.into(),
                token: pick(DHL_TOKEN, DHL_TOKEN_NEXT),
            },
            Scheme::Direct => PushCredentials::StandardWebhooks {
                secret: pick(DIRECT_SECRET, DIRECT_SECRET_NEXT),
            },
        }
    }

    /// Well-formed credentials that are not ours, and the reason ingest gives.
    pub fn wrong_credentials(self) -> (PushCredentials, &'static str) {
        match self {
            Scheme::Fedex => (
                PushCredentials::FedexSignature {
                    secret: "not-the-secret".into(),
                },
                "signature_mismatch",
            ),
            Scheme::Ups => (
                PushCredentials::UpsCredential {
                    api_key: UPS_API_KEY.into(),
                    header: "credential".into(),
                    credential: "not-the-credential".into(),
                },
                "credential_mismatch",
            ),
            Scheme::Dhl => (
                PushCredentials::DhlToken {
                    header: DHL_HEADER.into(),
                    token: "not-the-token".into(),
                },
                "token_mismatch",
            ),
            Scheme::Direct => (
                PushCredentials::StandardWebhooks {
                    secret: "whsec_bm90LXRoZS1zZWNyZXQtb2YtdGhpcy1pbnRlZ3JhdG9y".into(),
                },
                "signature_mismatch",
            ),
        }
    }

    /// Each header that carries (part of) the credential, and the reason ingest gives when it
    /// is left out.
    pub fn credential_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Scheme::Fedex => &[("fdx-signature", "signature_missing")],
            Scheme::Ups => &[
                ("x-api-key", "api_key_missing"),
                ("credential", "credential_missing"),
            ],
            Scheme::Dhl => &[("x-gluey-push-token", "token_missing")],
            Scheme::Direct => &[
                ("webhook-id", "id_missing"),
                ("webhook-timestamp", "timestamp_missing"),
                ("webhook-signature", "signature_missing"),
            ],
        }
    }

    /// Whether the credential covers the body (a tampered body must then be refused).
    pub fn signs_body(self) -> bool {
        matches!(self, Scheme::Fedex | Scheme::Direct)
    }

    pub fn client(self, ingest_port: u16) -> CarrierClient {
        CarrierClient::new(
            &format!("http://127.0.0.1:{ingest_port}"),
            &self.simulator().path(),
            self.credentials(false),
        )
    }

    /// Tracking number `n` of this carrier's simulator.
    pub fn tracking_number(self, n: usize) -> String {
        self.simulator().tracking_number(n)
    }

    /// The shipment key the raw record of tracking number `n` gets.
    pub fn shipment_key(self, n: usize) -> String {
        format!("{}:{}", self.carrier(), self.tracking_number(n))
    }

    /// A push about tracking number `n`: picked up at the simulator's origin.
    pub fn payload(self, n: usize) -> Vec<u8> {
        let simulator = self.simulator();
        let place = &simulator.places()[0];
        let at: DateTime<FixedOffset> = DateTime::parse_from_rfc3339("2024-05-14T10:00:00Z")
            .unwrap()
            .with_timezone(&FixedOffset::east_opt(place.offset_hours * 3600).unwrap());
        let scan = SimulatedScan {
            step: Step::PickedUp,
            place,
            at,
        };
        simulator.payload(&self.tracking_number(n), &[scan])
    }

    /// One push about several shipments, in the shape the carrier's split understands: the
    /// direct format's `shipments` list, an array of single pushes for the others.
    pub fn batch_payload(self, numbers: &[usize]) -> Vec<u8> {
        let parts: Vec<serde_json::Value> = numbers
            .iter()
            .map(|n| serde_json::from_slice(&self.payload(*n)).unwrap())
            .collect();
        let batch = match self {
            Scheme::Direct => serde_json::json!({
                "schema": "gluey.direct.v1",
                "shipments": parts.iter().flat_map(|p| p["shipments"].as_array().unwrap().clone()).collect::<Vec<_>>(),
            }),
            _ => serde_json::Value::Array(parts),
        };
        serde_json::to_vec(&batch).unwrap()
    }
}

/// A config file with these routes (and no customers).
pub fn config_text(schemes: &[Scheme], limits: Option<&str>) -> String {
    schemes
        .iter()
        .map(|s| s.config_section(limits))
        .collect::<Vec<_>>()
        .join("\n")
}
