//! Metrics of `ingest subscriptions`. Labels come from bounded sets only: carrier, state, outcome.

use std::collections::BTreeMap;

use gluey_contract::SubscriptionState;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct SubscriptionMetrics {
    /// `ingest_subscriptions{carrier,state}`: subscriptions per state, right now.
    pub subscriptions: IntGaugeVec,
    /// `ingest_subscription_calls_total{carrier,outcome}`.
    pub calls: IntCounterVec,
    /// `ingest_subscription_numbers_total{carrier,outcome}`: subjects subscribed, renewed,
    /// refused, failed.
    pub subjects: IntCounterVec,
}

impl std::fmt::Debug for SubscriptionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriptionMetrics")
    }
}

impl SubscriptionMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<SubscriptionMetrics> {
        let subscriptions = IntGaugeVec::new(
            Opts::new(
                "ingest_subscriptions",
                "Carrier push subscriptions by state (pending, active, failed, lapsed, stopped)",
            ),
            &["carrier", "state"],
        )?;
        let calls = IntCounterVec::new(
            Opts::new(
                "ingest_subscription_calls_total",
                "Subscribe calls to carriers by outcome (ok, partial, refused, throttled, unavailable, unauthorized, rejected)",
            ),
            &["carrier", "outcome"],
        )?;
        let subjects = IntCounterVec::new(
            Opts::new(
                "ingest_subscription_numbers_total",
                "Tracking numbers (or accounts) per call result (subscribed, renewed, refused, failed)",
            ),
            &["carrier", "outcome"],
        )?;
        registry.register(Box::new(subscriptions.clone()))?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(subjects.clone()))?;
        Ok(SubscriptionMetrics {
            subscriptions,
            calls,
            subjects,
        })
    }

    /// Sets the gauge of every state of every carrier in `carriers` from `counts`.
    pub fn set_states(
        &self,
        carriers: &[&str],
        counts: &BTreeMap<(String, SubscriptionState), i64>,
    ) {
        for carrier in carriers {
            for state in SubscriptionState::ALL {
                let n = counts
                    .get(&(carrier.to_string(), state))
                    .copied()
                    .unwrap_or(0);
                self.subscriptions
                    .with_label_values(&[carrier, state.as_str()])
                    .set(n);
            }
        }
    }
}
