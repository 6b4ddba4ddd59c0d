//! The push routes and what serves each, resolved per request from the current config (so a
//! SIGHUP reload applies to the next push): `POST /carriers/fedex/aiv`, `/carriers/ups/alert`,
//! `/carriers/dhl/push` and `/carriers/<integrator>/direct`. A route whose section is not in the
//! config is known but not configured, and answers 404 saying so.

use std::time::Duration;

use gluey_carriers::CarrierFormat;
use gluey_ops::standard_webhooks::SigningSecret;

use crate::auth::dhl::DhlToken;
use crate::auth::direct::StandardWebhooksSignature;
use crate::auth::fedex::FedexSignature;
use crate::auth::ups::UpsCredential;
use crate::auth::Authenticator;
use crate::config::{CarrierPushSection, PushLimits};

/// A push route, as named by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushRoute {
    FedexAiv,
    UpsAlert,
    DhlPush,
    /// A native integrator, by its carrier slug.
    Direct(String),
}

impl PushRoute {
    /// The route of `/carriers/<carrier>/<kind>`, if there is one.
    pub(crate) fn from_path(carrier: &str, kind: &str) -> Option<PushRoute> {
        match (carrier, kind) {
            ("fedex", "aiv") => Some(PushRoute::FedexAiv),
            ("ups", "alert") => Some(PushRoute::UpsAlert),
            ("dhl", "push") => Some(PushRoute::DhlPush),
            (integrator, "direct") => Some(PushRoute::Direct(integrator.to_string())),
            _ => None,
        }
    }
}

/// Everything one push route needs to serve a request.
pub(crate) struct Endpoint<'a> {
    /// The carrier the records are filed under (envelope, shipment key) and the metric label.
    pub carrier: &'a str,
    pub format: &'static dyn CarrierFormat,
    pub authenticator: Box<dyn Authenticator + 'a>,
    pub limits: &'a PushLimits,
    /// Routes whose scheme names each delivery (`webhook-id`) remember accepted ones this long,
    /// in a cache of at most this many.
    pub delivery_ids: Option<(Duration, usize)>,
}

/// A known route whose section is not in the config.
#[derive(Debug)]
pub(crate) struct NotConfigured {
    /// Metric label: the route's carrier, or `direct` for an unknown integrator (the path
    /// segment is the sender's choice, so it never becomes a label).
    pub label: &'static str,
    pub message: String,
}

fn not_configured(label: &'static str, section: &str) -> NotConfigured {
    NotConfigured {
        label,
        message: format!(
            "{section} is not configured on this ingest (no {section} section in its config file)"
        ),
    }
}

/// Resolves `route` against `carriers`; `now` (seconds since the epoch) is the clock that
/// Standard Webhooks timestamps are checked against.
pub(crate) fn resolve<'a>(
    route: &PushRoute,
    carriers: &'a CarrierPushSection,
    now: i64,
) -> Result<Endpoint<'a>, NotConfigured> {
    match route {
        PushRoute::FedexAiv => {
            let fedex = carriers
                .fedex
                .as_ref()
                .ok_or_else(|| not_configured("fedex", "carriers.fedex"))?;
            Ok(Endpoint {
                carrier: "fedex",
                format: &gluey_carriers::fedex::FedexAiv,
                authenticator: Box::new(FedexSignature {
                    secrets: &fedex.aiv_secrets,
                }),
                limits: &fedex.limits,
                delivery_ids: None,
            })
        }
        PushRoute::UpsAlert => {
            let ups = carriers
                .ups
                .as_ref()
                .ok_or_else(|| not_configured("ups", "carriers.ups"))?;
            Ok(Endpoint {
                carrier: "ups",
                format: &gluey_carriers::ups::UpsAlert,
                authenticator: Box::new(UpsCredential {
                    api_keys: &ups.api_keys,
                    credential_header: &ups.credential_header,
                    credentials: &ups.credentials,
                }),
                limits: &ups.limits,
                delivery_ids: None,
            })
        }
        PushRoute::DhlPush => {
            let dhl = carriers
                .dhl
                .as_ref()
                .ok_or_else(|| not_configured("dhl", "carriers.dhl"))?;
            Ok(Endpoint {
                carrier: "dhl",
                format: &gluey_carriers::dhl::DhlPush,
                authenticator: Box::new(DhlToken {
                    header: &dhl.header,
                    tokens: &dhl.tokens,
                }),
                limits: &dhl.limits,
                delivery_ids: None,
            })
        }
        PushRoute::Direct(slug) => {
            let (direct, integrator) = carriers
                .direct
                .as_ref()
                .and_then(|d| d.integrator(slug).map(|i| (d, i)))
                .ok_or_else(|| NotConfigured {
                    label: "direct",
                    message:
                        "this direct integrator is not configured on this ingest (no entry in \
                              carriers.direct.integrators)"
                            .into(),
                })?;
            // Validated when the config was loaded; a secret that does not parse verifies nothing.
            let secrets = integrator
                .secrets
                .iter()
                .filter_map(|s| SigningSecret::parse(s.expose()).ok())
                .collect();
            Ok(Endpoint {
                carrier: &integrator.carrier,
                format: &gluey_carriers::direct::DirectV1,
                authenticator: Box::new(StandardWebhooksSignature {
                    secrets,
                    tolerance: direct.timestamp_tolerance,
                    now,
                }),
                limits: &integrator.limits,
                // A replay is refused as stale once its timestamp is a tolerance old, and the
                // timestamp may be up to a tolerance in the future when accepted.
                delivery_ids: Some((
                    direct.timestamp_tolerance.saturating_mul(2),
                    direct.webhook_id_cache_size,
                )),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_routes() {
        assert_eq!(
            PushRoute::from_path("fedex", "aiv"),
            Some(PushRoute::FedexAiv)
        );
        assert_eq!(
            PushRoute::from_path("ups", "alert"),
            Some(PushRoute::UpsAlert)
        );
        assert_eq!(
            PushRoute::from_path("dhl", "push"),
            Some(PushRoute::DhlPush)
        );
        assert_eq!(
            PushRoute::from_path("swiftparcel", "direct"),
            Some(PushRoute::Direct("swiftparcel".into()))
        );
        assert_eq!(PushRoute::from_path("ups", "aiv"), None);
    }

    #[test]
    fn a_route_without_its_section_is_not_configured() {
        let carriers = CarrierPushSection::default();
        for (route, label) in [
            (PushRoute::FedexAiv, "fedex"),
            (PushRoute::UpsAlert, "ups"),
            (PushRoute::DhlPush, "dhl"),
            (PushRoute::Direct("swiftparcel".into()), "direct"),
        ] {
            let Err(e) = resolve(&route, &carriers, 0) else {
                panic!("{route:?} resolved without config");
            };
            assert_eq!(e.label, label);
            assert!(e.message.contains("not configured"), "{}", e.message);
        }
    }
}
