//! The subscription book: every push subscription the service keeps, by carrier and subject (a
//! tracking number, or `account:<id>`), and the state machine they move through. Pure: no I/O,
//! the clock is a parameter. Every change marks the entry dirty; the service writes dirty entries
//! to `ingest.webhook.subscriptions.v1`, and a restart restores the book from that topic, so what
//! was subscribed and until when is never forgotten.
//!
//! ```text
//! registered ─▶ pending ──call ok──▶ active ──renew ok──▶ active …
//!                  │ call failed       │ validity passed unrenewed
//!                  ▼                   ▼
//!               failed ─call ok─▶   lapsed ──call ok──▶ active
//! any ──terminal status or deregistered──▶ stopped (no more calls)
//! ```
//!
//! The invariant: an entry is due for a call only while it is wanted (registered, not stopped)
//! and its `next_attempt_at` has come: once on registration, then at `expires_at - renew_before`,
//! or after a failure at the retry schedule's pause.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_contract::{shipment_key, PushSubscription, Status, SubscriptionState};

/// Stop reason of a number whose registration went away.
pub const DEREGISTERED: &str = "deregistered";

/// One subscription's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectKey {
    pub carrier: String,
    pub subject: String,
}

impl SubjectKey {
    pub fn new(carrier: &str, subject: &str) -> SubjectKey {
        SubjectKey {
            carrier: carrier.to_string(),
            subject: subject.to_string(),
        }
    }

    /// The subject of an account subscription.
    pub fn account(carrier: &str, account_id: &str) -> SubjectKey {
        SubjectKey::new(carrier, &format!("account:{account_id}"))
    }

    /// The record key on the state topic, `carrier:subject` (the shipment key for a number).
    pub fn record_key(&self) -> String {
        shipment_key(&self.carrier, &self.subject)
    }

    /// The inverse of `record_key`.
    pub fn parse(record_key: &str) -> Option<SubjectKey> {
        let (carrier, subject) = record_key.split_once(':')?;
        (!carrier.is_empty() && !subject.is_empty()).then(|| SubjectKey::new(carrier, subject))
    }
}

/// How long a confirmed subscription lasts, and how early to renew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    /// `None`: the carrier sets no expiry, so there is nothing to renew.
    pub validity: Option<Duration>,
    pub renew_before: Duration,
}

/// Why an attempt did not confirm a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The carrier refused this subject (UPS `invalidTrackingNumbers`, a DHL 404): retried along
    /// the schedule, then given up.
    Refused(&'a str),
    /// The call failed on our or the carrier's side: retried along the schedule, then at its last
    /// pause for as long as it fails.
    Failed(&'a str),
}

#[derive(Debug, Clone)]
struct Entry {
    record: PushSubscription,
    /// Whether the registry (or the config, for an account) currently wants it.
    registered: bool,
}

#[derive(Debug, Default)]
pub struct SubscriptionBook {
    entries: BTreeMap<SubjectKey, Entry>,
    by_shipment: HashMap<String, BTreeSet<SubjectKey>>,
    dirty: BTreeSet<SubjectKey>,
}

fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn earlier(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn pending(key: &SubjectKey, shipment: Option<&str>, now: DateTime<Utc>) -> PushSubscription {
    PushSubscription {
        carrier: key.carrier.clone(),
        subject: key.subject.clone(),
        shipment_key: shipment.map(str::to_string),
        state: SubscriptionState::Pending,
        subscribed_at: None,
        expires_at: None,
        next_attempt_at: Some(now),
        periods: 0,
        failures: 0,
        last_error: None,
        stop_reason: None,
        status_sequence: 0,
        carrier_subscription_id: None,
        updated_at: now,
    }
}

fn stop(record: &mut PushSubscription, reason: &str) {
    record.state = SubscriptionState::Stopped;
    record.stop_reason = Some(reason.to_string());
    record.next_attempt_at = None;
}

/// Wanted again after a stop: subscribed afresh (a carrier treats a repeat as an extension).
fn resume(record: &mut PushSubscription, now: DateTime<Utc>) {
    record.state = SubscriptionState::Pending;
    record.stop_reason = None;
    record.failures = 0;
    record.last_error = None;
    record.next_attempt_at = Some(now);
}

fn stopped_by_status(record: &PushSubscription) -> bool {
    record.state == SubscriptionState::Stopped
        && record.stop_reason.as_deref() != Some(DEREGISTERED)
}

impl SubscriptionBook {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &SubjectKey) -> Option<&PushSubscription> {
        self.entries.get(key).map(|e| &e.record)
    }

    fn insert(&mut self, key: SubjectKey, entry: Entry) {
        if let Some(shipment) = &entry.record.shipment_key {
            self.by_shipment
                .entry(shipment.clone())
                .or_default()
                .insert(key.clone());
        }
        self.dirty.insert(key.clone());
        self.entries.insert(key, entry);
    }

    fn unindex(&mut self, key: &SubjectKey, shipment: &str) {
        if let Some(keys) = self.by_shipment.get_mut(shipment) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_shipment.remove(shipment);
            }
        }
    }

    /// A record read back from the state topic at start-up; not wanted until the registry says so.
    pub fn restore(&mut self, record: PushSubscription) {
        let key = SubjectKey::new(&record.carrier, &record.subject);
        if let Some(old) = self.entries.remove(&key) {
            if let Some(shipment) = &old.record.shipment_key {
                self.unindex(&key, shipment);
            }
        }
        self.insert(
            key.clone(),
            Entry {
                record,
                registered: false,
            },
        );
        self.dirty.remove(&key);
    }

    /// A tombstone read back from the state topic.
    pub fn forget(&mut self, key: &SubjectKey) {
        if let Some(old) = self.entries.remove(key) {
            if let Some(shipment) = &old.record.shipment_key {
                self.unindex(key, shipment);
            }
        }
        self.dirty.remove(key);
    }

    /// The stop a shipment's other numbers are under because of its status, if any.
    fn status_stop_of(&self, shipment: &str) -> Option<(String, i64)> {
        self.by_shipment
            .get(shipment)?
            .iter()
            .filter_map(|k| self.entries.get(k))
            .find(|e| stopped_by_status(&e.record))
            .map(|e| {
                (
                    e.record.stop_reason.clone().unwrap_or_default(),
                    e.record.status_sequence,
                )
            })
    }

    /// The registry lists `key` for shipment `shipment`: subscribe it unless the shipment is
    /// already over; a number that was deregistered (or belonged to another, finished shipment)
    /// is wanted again.
    pub fn register(&mut self, key: &SubjectKey, shipment: &str, now: DateTime<Utc>) {
        let Some(entry) = self.entries.get_mut(key) else {
            let mut record = pending(key, Some(shipment), now);
            if let Some((reason, sequence)) = self.status_stop_of(shipment) {
                stop(&mut record, &reason);
                record.status_sequence = sequence;
            }
            let entry = Entry {
                record,
                registered: true,
            };
            self.insert(key.clone(), entry);
            return;
        };
        entry.registered = true;
        let record = &mut entry.record;
        let moved_from = if record.shipment_key.as_deref() == Some(shipment) {
            None
        } else {
            Some(record.shipment_key.replace(shipment.to_string()))
        };
        let deregistered = record.state == SubscriptionState::Stopped
            && record.stop_reason.as_deref() == Some(DEREGISTERED);
        if deregistered || (moved_from.is_some() && stopped_by_status(record)) {
            resume(record, now);
        }
        if deregistered || moved_from.is_some() {
            self.dirty.insert(key.clone());
        }
        if let Some(old) = moved_from {
            if let Some(old) = old {
                self.unindex(key, &old);
            }
            self.by_shipment
                .entry(shipment.to_string())
                .or_default()
                .insert(key.clone());
        }
    }

    /// The configured account wants its subscription.
    pub fn register_account(&mut self, key: &SubjectKey, now: DateTime<Utc>) {
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.registered = true;
                if entry.record.state == SubscriptionState::Stopped {
                    resume(&mut entry.record, now);
                    self.dirty.insert(key.clone());
                }
            }
            None => self.insert(
                key.clone(),
                Entry {
                    record: pending(key, None, now),
                    registered: true,
                },
            ),
        }
    }

    /// The registry dropped `key` (a tombstone).
    pub fn deregister(&mut self, key: &SubjectKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.registered = false;
            if entry.record.state != SubscriptionState::Stopped {
                stop(&mut entry.record, DEREGISTERED);
                self.dirty.insert(key.clone());
            }
        }
    }

    /// After the registry (and the config's accounts) were read in full: whatever is still
    /// subscribed but no longer wanted stops. Returns how many stopped.
    pub fn stop_unregistered(&mut self) -> usize {
        let mut stopped = 0;
        for (key, entry) in &mut self.entries {
            if !entry.registered && entry.record.state != SubscriptionState::Stopped {
                stop(&mut entry.record, DEREGISTERED);
                self.dirty.insert(key.clone());
                stopped += 1;
            }
        }
        stopped
    }

    /// A record of `tracking.events.v1` for shipment `shipment` of `carrier`: a terminal or
    /// expired status stops every number of the shipment (recorded even before the registration
    /// is seen, so a late registration does not subscribe a finished shipment); a newer record
    /// that is neither resumes what a status stopped.
    pub fn observe_status(&mut self, update: StatusUpdate<'_>, now: DateTime<Utc>) {
        let stopping = update.terminal || update.status == Status::Expired;
        let keys: Vec<SubjectKey> = self
            .by_shipment
            .get(update.shipment_key)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        if keys.is_empty() {
            let key = SubjectKey::new(update.carrier, update.tracking_number);
            // Unless the number is known under another shipment (that one is not over).
            if stopping && !update.tracking_number.is_empty() && !self.entries.contains_key(&key) {
                let mut record = pending(&key, Some(update.shipment_key), now);
                stop(&mut record, update.status.as_str());
                record.status_sequence = update.sequence;
                self.insert(
                    key,
                    Entry {
                        record,
                        registered: false,
                    },
                );
            }
            return;
        }
        for key in keys {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            let record = &mut entry.record;
            if stopping {
                if record.state != SubscriptionState::Stopped {
                    stop(record, update.status.as_str());
                    record.status_sequence = update.sequence;
                    self.dirty.insert(key);
                }
            } else if stopped_by_status(record)
                && update.sequence > record.status_sequence
                && entry.registered
            {
                resume(record, now);
                self.dirty.insert(key);
            }
        }
    }

    /// Subjects of `carrier` whose call is due, the longest-waiting first.
    pub fn due(&self, carrier: &str, now: DateTime<Utc>) -> Vec<SubjectKey> {
        let start = SubjectKey::new(carrier, "");
        let mut due: Vec<(DateTime<Utc>, &SubjectKey)> = self
            .entries
            .range(start..)
            .take_while(|(k, _)| k.carrier == carrier)
            .filter(|(_, e)| e.registered && e.record.state != SubscriptionState::Stopped)
            .filter_map(|(k, e)| {
                e.record
                    .next_attempt_at
                    .filter(|t| *t <= now)
                    .map(|t| (t, k))
            })
            .collect();
        due.sort();
        due.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// The carrier confirmed `key` in a call sent at `sent_at` (the period is counted from then,
    /// so our idea of the expiry is never later than the carrier's).
    pub fn succeeded(
        &mut self,
        key: &SubjectKey,
        sent_at: DateTime<Utc>,
        renewal: Renewal,
        carrier_subscription_id: Option<String>,
    ) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let record = &mut entry.record;
        record.state = SubscriptionState::Active;
        record.subscribed_at = Some(sent_at);
        record.expires_at = renewal.validity.map(|v| later(sent_at, v));
        record.next_attempt_at = record
            .expires_at
            .map(|expires| earlier(expires, renewal.renew_before));
        record.periods = record.periods.saturating_add(1);
        record.failures = 0;
        record.last_error = None;
        if carrier_subscription_id.is_some() {
            record.carrier_subscription_id = carrier_subscription_id;
        }
        self.dirty.insert(key.clone());
    }

    /// An attempt for `key` did not confirm it; schedules the next one per `schedule`.
    pub fn failed(
        &mut self,
        key: &SubjectKey,
        failure: Failure<'_>,
        schedule: &[Duration],
        now: DateTime<Utc>,
    ) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let record = &mut entry.record;
        record.failures = record.failures.saturating_add(1);
        let step = usize::try_from(record.failures - 1).unwrap_or(usize::MAX);
        let (reason, pause) = match failure {
            Failure::Refused(reason) => (reason, schedule.get(step).copied()),
            Failure::Failed(reason) => (
                reason,
                schedule
                    .get(step)
                    .or(schedule.last())
                    .copied()
                    .or(Some(Duration::ZERO)),
            ),
        };
        record.last_error = Some(reason.to_string());
        record.next_attempt_at = pause.map(|p| later(now, p));
        if record.state == SubscriptionState::Pending {
            record.state = SubscriptionState::Failed;
        }
        self.dirty.insert(key.clone());
    }

    /// Active subscriptions whose validity passed unrenewed become lapsed. Returns how many.
    pub fn refresh_lapses(&mut self, now: DateTime<Utc>) -> usize {
        let mut lapsed = 0;
        for (key, entry) in &mut self.entries {
            let record = &mut entry.record;
            if record.state == SubscriptionState::Active
                && record.expires_at.is_some_and(|e| e <= now)
            {
                record.state = SubscriptionState::Lapsed;
                self.dirty.insert(key.clone());
                lapsed += 1;
            }
        }
        lapsed
    }

    /// Subscriptions per carrier and state.
    pub fn counts(&self) -> BTreeMap<(String, SubscriptionState), i64> {
        let mut counts = BTreeMap::new();
        for (key, entry) in &self.entries {
            *counts
                .entry((key.carrier.clone(), entry.record.state))
                .or_default() += 1;
        }
        counts
    }

    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The changed records to write, stamped `now`; they are clean until `mark_dirty`.
    pub fn take_dirty(&mut self, now: DateTime<Utc>) -> Vec<(SubjectKey, PushSubscription)> {
        let keys = std::mem::take(&mut self.dirty);
        keys.into_iter()
            .filter_map(|key| {
                let entry = self.entries.get_mut(&key)?;
                entry.record.updated_at = now;
                Some((key, entry.record.clone()))
            })
            .collect()
    }

    /// Records whose write failed are written again next time.
    pub fn mark_dirty(&mut self, key: SubjectKey) {
        self.dirty.insert(key);
    }
}

/// What a `tracking.events.v1` record says about its shipment.
#[derive(Debug, Clone, Copy)]
pub struct StatusUpdate<'a> {
    pub carrier: &'a str,
    pub shipment_key: &'a str,
    pub tracking_number: &'a str,
    pub status: Status,
    pub terminal: bool,
    pub sequence: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const S: Duration = Duration::from_secs(1);

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn ups(n: &str) -> SubjectKey {
        SubjectKey::new("ups", n)
    }

    const RENEWAL: Renewal = Renewal {
        validity: Some(Duration::from_secs(100)),
        renew_before: Duration::from_secs(20),
    };

    fn delivered<'a>(shipment: &'a str, number: &'a str, sequence: i64) -> StatusUpdate<'a> {
        StatusUpdate {
            carrier: "ups",
            shipment_key: shipment,
            tracking_number: number,
            status: Status::Delivered,
            terminal: true,
            sequence,
        }
    }

    #[test]
    fn a_registration_is_due_once_then_renewed_before_expiry() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        assert_eq!(book.due("ups", t(0)), vec![ups("A")]);
        assert!(book.due("dhl", t(0)).is_empty());
        book.succeeded(&ups("A"), t(1), RENEWAL, None);
        let record = book.get(&ups("A")).unwrap();
        assert_eq!(record.state, SubscriptionState::Active);
        assert_eq!(record.expires_at, Some(t(101)));
        assert!(book.due("ups", t(80)).is_empty());
        assert_eq!(book.due("ups", t(81)), vec![ups("A")]);
        book.succeeded(&ups("A"), t(82), RENEWAL, None);
        assert_eq!(book.get(&ups("A")).unwrap().periods, 2);
        assert!(book.due("ups", t(100)).is_empty());
    }

    #[test]
    fn an_unrenewed_subscription_lapses_and_is_subscribed_again() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        book.succeeded(&ups("A"), t(0), RENEWAL, None);
        book.failed(&ups("A"), Failure::Failed("503"), &[S * 5], t(80));
        assert_eq!(book.refresh_lapses(t(99)), 0);
        assert_eq!(book.refresh_lapses(t(100)), 1);
        assert_eq!(
            book.get(&ups("A")).unwrap().state,
            SubscriptionState::Lapsed
        );
        // Failed calls repeat at the schedule's last pause.
        assert_eq!(book.due("ups", t(100)), vec![ups("A")]);
        book.succeeded(&ups("A"), t(101), RENEWAL, None);
        assert_eq!(
            book.get(&ups("A")).unwrap().state,
            SubscriptionState::Active
        );
    }

    #[test]
    fn a_refused_number_is_retried_along_the_schedule_then_given_up() {
        let mut book = SubscriptionBook::default();
        let schedule = [S, S * 2];
        book.register(&ups("BAD"), "ups:BAD", t(0));
        book.failed(&ups("BAD"), Failure::Refused("invalid"), &schedule, t(0));
        assert_eq!(
            book.get(&ups("BAD")).unwrap().state,
            SubscriptionState::Failed
        );
        assert!(book.due("ups", t(0)).is_empty());
        assert_eq!(book.due("ups", t(1)), vec![ups("BAD")]);
        book.failed(&ups("BAD"), Failure::Refused("invalid"), &schedule, t(1));
        assert_eq!(book.due("ups", t(3)), vec![ups("BAD")]);
        book.failed(&ups("BAD"), Failure::Refused("invalid"), &schedule, t(3));
        let record = book.get(&ups("BAD")).unwrap();
        assert_eq!((record.failures, record.next_attempt_at), (3, None));
        assert!(book.due("ups", t(10_000)).is_empty());
    }

    #[test]
    fn a_terminal_status_stops_every_number_of_the_shipment_and_a_late_one_too() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        book.register(&ups("A2"), "ups:A", t(0));
        book.register(&ups("B"), "ups:B", t(0));
        book.observe_status(delivered("ups:A", "A", 7), t(1));
        for n in ["A", "A2"] {
            let record = book.get(&ups(n)).unwrap();
            assert_eq!(record.state, SubscriptionState::Stopped);
            assert_eq!(record.stop_reason.as_deref(), Some("delivered"));
        }
        assert_eq!(book.due("ups", t(1)), vec![ups("B")]);
        // An alias registered after delivery is not subscribed.
        book.register(&ups("A3"), "ups:A", t(2));
        assert_eq!(
            book.get(&ups("A3")).unwrap().state,
            SubscriptionState::Stopped
        );
        // Nor is a shipment whose delivery was seen before its registration.
        book.observe_status(delivered("ups:C", "C", 3), t(3));
        book.register(&ups("C"), "ups:C", t(4));
        assert_eq!(book.due("ups", t(5)), vec![ups("B")]);
    }

    #[test]
    fn a_number_registered_for_another_shipment_is_wanted_again() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        book.observe_status(delivered("ups:A", "A", 2), t(1));
        book.register(&ups("A"), "ups:A", t(2));
        assert!(
            book.due("ups", t(2)).is_empty(),
            "same shipment: still over"
        );
        // The carrier reused the number, or it became an alias of a new shipment.
        book.register(&ups("A"), "ups:B", t(3));
        assert_eq!(book.due("ups", t(3)), vec![ups("A")]);
        assert_eq!(
            book.get(&ups("A")).unwrap().shipment_key.as_deref(),
            Some("ups:B")
        );
        // The old shipment's later events no longer touch it.
        book.observe_status(delivered("ups:A", "A", 9), t(4));
        assert_eq!(book.due("ups", t(4)), vec![ups("A")]);
    }

    #[test]
    fn an_expired_shipment_resumes_on_a_newer_record() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        let update = |status, terminal, sequence| StatusUpdate {
            carrier: "ups",
            shipment_key: "ups:A",
            tracking_number: "A",
            status,
            terminal,
            sequence,
        };
        book.observe_status(update(Status::Expired, false, 5), t(1));
        assert_eq!(
            book.get(&ups("A")).unwrap().state,
            SubscriptionState::Stopped
        );
        book.observe_status(update(Status::InTransit, false, 4), t(2));
        assert_eq!(
            book.get(&ups("A")).unwrap().state,
            SubscriptionState::Stopped
        );
        book.observe_status(update(Status::InTransit, false, 6), t(3));
        assert_eq!(book.due("ups", t(3)), vec![ups("A")]);
    }

    #[test]
    fn a_restored_book_keeps_periods_and_stops_what_the_registry_dropped() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        book.register(&ups("B"), "ups:B", t(0));
        book.succeeded(&ups("A"), t(0), RENEWAL, None);
        book.succeeded(&ups("B"), t(0), RENEWAL, None);
        let written = book.take_dirty(t(1));
        assert_eq!(written.len(), 2);
        assert!(!book.has_dirty());

        let mut restarted = SubscriptionBook::default();
        for (_, record) in written {
            restarted.restore(record);
        }
        assert!(!restarted.has_dirty());
        restarted.register(&ups("A"), "ups:A", t(2));
        assert_eq!(restarted.stop_unregistered(), 1);
        assert!(
            restarted.due("ups", t(2)).is_empty(),
            "nothing is due again"
        );
        assert_eq!(restarted.due("ups", t(80)), vec![ups("A")]);
        let b = restarted.get(&ups("B")).unwrap();
        assert_eq!(b.stop_reason.as_deref(), Some(DEREGISTERED));
        // Registered again: wanted again.
        restarted.register(&ups("B"), "ups:B", t(3));
        assert_eq!(restarted.due("ups", t(3)), vec![ups("B")]);
    }

    #[test]
    fn counts_and_dirty_tracking() {
        let mut book = SubscriptionBook::default();
        book.register(&ups("A"), "ups:A", t(0));
        book.register(&ups("B"), "ups:B", t(0));
        book.register_account(&SubjectKey::account("dhl", "123"), t(0));
        book.succeeded(&ups("A"), t(0), RENEWAL, None);
        let counts = book.counts();
        assert_eq!(counts[&("ups".into(), SubscriptionState::Active)], 1);
        assert_eq!(counts[&("ups".into(), SubscriptionState::Pending)], 1);
        assert_eq!(counts[&("dhl".into(), SubscriptionState::Pending)], 1);
        let written = book.take_dirty(t(1));
        assert_eq!(written.len(), 3);
        assert_eq!(written[0].0.record_key(), "dhl:account:123");
        book.mark_dirty(written[1].0.clone());
        assert_eq!(book.take_dirty(t(2)).len(), 1);
        assert_eq!(
            SubjectKey::parse("dhl:account:123"),
            Some(SubjectKey::account("dhl", "123"))
        );
    }
}
