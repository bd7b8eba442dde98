//! The dispatch loop: turns the wanted limits into leased ChargingProfiles, round by round.
//!
//! It owns, per charger, the `ChargerLimit` accounting of S1 and runs `round::decide`
//! whenever the wanted limits change, a charger answers, a charger comes or goes, or a
//! lease needs refreshing (at half its length, S3). Each limit goes out through the command
//! API, which audits it with its reason and answer (S6). A Rejected, a CALLERROR or a
//! timeout leaves the charger unresponsive: it keeps counting at the highest it may draw
//! until a later send is acknowledged. Thin: every decision is in `round` and `profile`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};

use super::baseline::BaselineState;
use super::profile;
use super::round::{self, ChargerLimit, RoundPolicy, Row};
use super::samples;
use crate::charger::{Chargers, CommandError};
use crate::clock::Clock;
use crate::config::{Charger, Config, Live};
use crate::csms::{ConnectionEvent, Csms};
use crate::ocpp::model::{ChargerCommand, CommandReply, RateUnit, TxKey};
use crate::site::load::RAMP_MIN_RISE_A;
use crate::store;
use crate::units::{Amps, ChargerId, Volts, Watts};

/// How long a charger whose send failed waits before the same limit is tried again.
const RETRY_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(15);

/// What dispatch is asked to do: the wanted limit per charger and the rows (circuit
/// phases) they must fit in. The control loop publishes it; chargers without a target
/// keep their limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchInput {
    pub targets: BTreeMap<ChargerId, Amps>,
    pub rows: Vec<Row>,
    /// Why these targets (the plan, the guard...), for the audit log.
    pub why: String,
    /// Why a charger's target differs from the plan (a guard cut or its lifting), added to
    /// that charger's audit reason.
    pub notes: BTreeMap<ChargerId, String>,
    /// Chargers to ask for a sample (TriggerMessage MeterValues), each once per time: the
    /// time of the load rise that asked (`site::switch_watch`).
    pub samples_wanted: BTreeMap<ChargerId, DateTime<Utc>>,
}

/// Dispatch settings from the config.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub chargers: HashMap<ChargerId, Charger>,
    pub voltage: Volts,
    /// Length of a leased limit, in seconds (`[dispatch] lease-s`).
    pub lease_s: u32,
    pub policy: RoundPolicy,
    /// Read GetCompositeSchedule after every accepted limit and compare (`[dispatch] verify`).
    pub verify: bool,
    /// No increase to a charger within this long of its last limit (`[dispatch] min-interval-s`).
    pub min_interval: chrono::TimeDelta,
}

impl DispatchSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            chargers: config.chargers_by_id(),
            voltage: config.site.nominal_voltage,
            lease_s: config.dispatch.lease_s,
            policy: RoundPolicy {
                hysteresis: config.dispatch.hysteresis,
            },
            verify: config.dispatch.verify,
            min_interval: chrono::TimeDelta::seconds(i64::from(config.dispatch.min_interval_s)),
        }
    }
}

/// What became of one limit sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Accepted,
    /// Rejected or answered with a CALLERROR: the charger did not take it.
    NotApplied,
    /// No answer (timeout, lost connection): it may or may not be in force.
    Unknown,
    /// Accepted, but its composite schedule says it applies this instead.
    Misreported(Option<f64>),
}

/// The outcome of one send, fed back into the loop.
#[derive(Debug)]
struct Answer {
    charger: ChargerId,
    limit: Amps,
    outcome: Outcome,
    sent_at: DateTime<Utc>,
}

/// A limit decided and counted as pending, waiting for the next publish to be sent.
struct Queued {
    charger: Charger,
    limit: Amps,
    why: String,
    at: DateTime<Utc>,
    /// Higher than what the charger may draw now: once accepted, the charger is asked for
    /// a sample that shows the vehicle's ramp (`confirm_ramp`).
    increase: bool,
}

struct Dispatcher {
    chargers: Chargers,
    csms: Csms,
    /// The config in force; a reload is taken before the next round (`follow_reload`).
    config: Live,
    settings: Arc<DispatchSettings>,
    baseline: BaselineState,
    limits: BTreeMap<ChargerId, ChargerLimit>,
    /// Chargers whose last send failed: (the limit, when). They are not sent the same or a
    /// higher limit again until `RETRY_AFTER` has passed, so a rejecting charger is not
    /// hammered; a deeper reduction is always tried at once.
    failed: HashMap<ChargerId, (Amps, DateTime<Utc>)>,
    /// Chargers whose `acknowledged` is still the start-up assumption (an unknown old lease
    /// at the maximum), not a lease of ours: never "refreshed".
    assumed: HashSet<ChargerId>,
    /// When each charger was last sent a new limit (for the minimum interval between
    /// increases; a lease refresh of the same limit does not count).
    last_sent: HashMap<ChargerId, DateTime<Utc>>,
    /// Limits decided and counted as pending, to be sent after the next publish.
    outbox: Vec<Queued>,
    /// Chargers that refused a TriggerMessage(MeterValues): their ramps are confirmed by
    /// their periodic samples only. Shared with the send tasks that learn it.
    no_meter_trigger: Arc<samples::Refusing>,
    /// Per charger, the time of the last load rise it was asked for a sample after
    /// (`samples::after_rise`): asked once per rise.
    asked_after_rise: HashMap<ChargerId, DateTime<Utc>>,
    answers: mpsc::UnboundedSender<Answer>,
    published: watch::Sender<BTreeMap<ChargerId, ChargerLimit>>,
    clock: Clock,
}

/// Subscribes now and returns the loop (runs until `shutdown`), plus a watch of the
/// accounting for the API and tests. The settings follow `config` (a reload's chargers
/// and `[dispatch]` keys).
pub fn run(
    csms: &Csms,
    chargers: Chargers,
    mut config: Live,
    baseline: BaselineState,
    input: watch::Receiver<DispatchInput>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> (
    impl Future<Output = ()> + Send + 'static,
    watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
) {
    let connections = csms.subscribe_connections();
    let (answers, answers_rx) = mpsc::unbounded_channel();
    let _ = config.take_change();
    let settings = DispatchSettings::from_config(&config.current());
    let unknown_until = clock.now() + chrono::Duration::seconds(i64::from(settings.lease_s));
    let limits: BTreeMap<ChargerId, ChargerLimit> = settings
        .chargers
        .values()
        .map(|c| (c.id.clone(), assumed_at_max(c, unknown_until)))
        .collect();
    let assumed = limits.keys().cloned().collect();
    let (published, accounting) = watch::channel(limits.clone());
    let dispatcher = Dispatcher {
        chargers,
        csms: csms.clone(),
        config,
        settings: Arc::new(settings),
        baseline,
        limits,
        failed: HashMap::new(),
        assumed,
        outbox: Vec::new(),
        no_meter_trigger: Arc::default(),
        asked_after_rise: HashMap::new(),
        last_sent: HashMap::new(),
        answers,
        published,
        clock,
    };
    (
        dispatcher.serve(connections, answers_rx, input, shutdown),
        accounting,
    )
}

impl Dispatcher {
    async fn serve(
        mut self,
        mut connections: broadcast::Receiver<ConnectionEvent>,
        mut answers: mpsc::UnboundedReceiver<Answer>,
        mut input: watch::Receiver<DispatchInput>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Unresponsive chargers are probed every quarter lease; leases themselves are
        // checked on every pass, which the 5 s retry tick guarantees (S3).
        let tick = Duration::from_secs(u64::from(self.settings.lease_s / 4).max(1));
        let mut probe = tokio::time::interval(tick);
        let mut retry = tokio::time::interval(Duration::from_secs(5));
        let mut probe_due = false;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                changed = input.changed() => if changed.is_err() { break },
                Some(answer) = answers.recv() => self.on_answer(answer),
                change = connections.recv() => match change {
                    Ok(change) => self.on_connection(&change),
                    // Missed (dis)connections: any refusal may be from before a reboot.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        samples::forget_refusals(&self.no_meter_trigger);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = probe.tick() => probe_due = true,
                // Held increases (minimum interval, retries) are tried again.
                _ = retry.tick() => {}
            }
            let wanted = input.borrow().clone();
            let now = self.clock.now();
            // Before the round: its rows may already hold a charger the reload added.
            self.follow_reload(now);
            // The round first: a reduction due now must not wait behind the refresh of the
            // higher limit it replaces (S2); a charger sent a new limit needs no refresh.
            // Leases are checked on every pass, not only on the tick: a charger that
            // reconnects late in its lease must be refreshed before it expires, or it falls
            // back to its baseline in the meantime (S1 counts that, but nobody made room).
            self.round(&wanted, now);
            self.refresh(now, std::mem::take(&mut probe_due));
            let _ = self.published.send(self.limits.clone());
            self.flush();
            self.ask_after_rise(&wanted);
        }
    }

    /// Takes a reloaded config: its `[dispatch]` keys, and its new chargers counted as at
    /// start (at their maximum for one lease, until a limit of ours is acknowledged).
    fn follow_reload(&mut self, now: DateTime<Utc>) {
        let Some(config) = self.config.take_change() else {
            return;
        };
        let settings = DispatchSettings::from_config(&config);
        let until = now + chrono::Duration::seconds(i64::from(settings.lease_s));
        for c in settings.chargers.values() {
            if !self.limits.contains_key(&c.id) {
                self.limits.insert(c.id.clone(), assumed_at_max(c, until));
                self.assumed.insert(c.id.clone());
            }
        }
        self.settings = Arc::new(settings);
    }

    fn on_connection(&mut self, change: &ConnectionEvent) {
        if change.connected {
            // A charger that comes back may run other firmware (an update reboots it):
            // ask it for samples again instead of trusting an old refusal for good.
            samples::forget_refusal(&self.no_meter_trigger, &change.charger);
        }
        let Some(limit) = self.limits.get_mut(&change.charger) else {
            return;
        };
        // A gone charger may draw its fallback; a (re)connected one may take limits again.
        // A send in flight stays pending: its answer (or its loss) still arrives and
        // decides what the charger holds (S1 counts it until then).
        limit.responsive = change.connected;
    }

    fn on_answer(&mut self, answer: Answer) {
        let Some(limit) = self.limits.get_mut(&answer.charger) else {
            return;
        };
        limit.pending = None;
        match answer.outcome {
            Outcome::Accepted => {
                self.failed.remove(&answer.charger);
                self.assumed.remove(&answer.charger);
                limit.uncertain = None;
                let until =
                    answer.sent_at + chrono::Duration::seconds(i64::from(self.settings.lease_s));
                limit.acknowledge(answer.limit, until, self.clock.now());
                limit.responsive = true;
                limit.distrusted = false;
            }
            Outcome::NotApplied => {
                // It did not take the limit: count it at the worst it may do until it does.
                limit.responsive = false;
                self.failed
                    .insert(answer.charger, (answer.limit, answer.sent_at));
            }
            Outcome::Unknown => {
                limit.responsive = false;
                let until =
                    answer.sent_at + chrono::Duration::seconds(i64::from(self.settings.lease_s));
                let worst = limit
                    .uncertain
                    .filter(|(_, u)| *u > answer.sent_at)
                    .map_or(answer.limit.0, |(l, _)| l.0.max(answer.limit.0));
                limit.uncertain = Some((Amps(worst), until));
                self.failed
                    .insert(answer.charger, (answer.limit, answer.sent_at));
            }
            Outcome::Misreported(reported) => {
                tracing::error!(
                    charger = %answer.charger,
                    sent = answer.limit.0,
                    ?reported,
                    "charger reports another limit than it accepted; counted at its maximum"
                );
                limit.distrusted = true;
                limit.responsive = false;
                // An alert for the operator (the status page and upstream alerts read these).
                let detail = format!(
                    "accepted {} A but reports {reported:?} A; counted at its maximum",
                    answer.limit.0
                );
                let (store, charger) = (self.csms.store().clone(), answer.charger.to_string());
                let now = self.clock.now();
                tokio::spawn(async move {
                    if let Err(e) = store
                        .call(move |c| store::charger_event(c, &charger, "Alert", &detail, now))
                        .await
                    {
                        tracing::error!("cannot record the alert: {e}");
                    }
                });
                self.failed
                    .insert(answer.charger, (answer.limit, answer.sent_at));
            }
        }
    }

    /// Resends leases that are past half their length, and with `probe` probes
    /// unresponsive but connected chargers with a limit no higher than their fallback.
    fn refresh(&mut self, now: DateTime<Utc>, probe: bool) {
        let half = chrono::Duration::seconds(i64::from(self.settings.lease_s / 2));
        let mut sends = Vec::new();
        for (id, limit) in &self.limits {
            if limit.pending.is_some()
                || !self.chargers.is_connected(id)
                || self.assumed.contains(id)
            {
                continue;
            }
            match (limit.responsive, limit.acknowledged) {
                (true, Some((current, Some(until)))) if until - now <= half => {
                    sends.push((id.clone(), current, "refresh lease".to_string()));
                }
                (false, _) if probe => {
                    // The probe is the failsafe: never more than the charger may already
                    // draw by itself, so an acknowledgement cannot raise the accounting.
                    let probe = Amps(limit.failsafe.0.min(limit.fallback().0));
                    sends.push((
                        id.clone(),
                        probe,
                        "probe an unresponsive charger".to_string(),
                    ));
                }
                _ => {}
            }
        }
        for (id, current, why) in sends {
            self.send(&id, current, why, now);
        }
    }

    fn round(&mut self, wanted: &DispatchInput, now: DateTime<Utc>) {
        self.sync_baselines();
        // A charger with a send in flight waits for its answer, which triggers a new round;
        // one that just failed waits for the retry time unless the target is lower.
        let targets: BTreeMap<ChargerId, Amps> = wanted
            .targets
            .iter()
            .filter(|(id, _)| self.limits.get(*id).is_some_and(|l| l.pending.is_none()))
            // Nothing can reach a charger that is not connected; it counts at what it may
            // draw until it comes back.
            .filter(|(id, _)| self.chargers.is_connected(id))
            .filter(|(id, target)| match self.failed.get(*id) {
                Some((limit, at)) => target.0 < limit.0 || now - *at >= RETRY_AFTER,
                None => true,
            })
            .map(|(id, a)| {
                // A charger whose state is only assumed (start-up: somewhere between its
                // failsafe and its maximum) is first brought to a known limit no higher than
                // its failsafe. Lowering the assumed maximum to a target above what it really
                // applies would be an increase in disguise; the failsafes together fit the
                // site (validated, S3), so this first step is always safe.
                let first = match self.limits.get(id) {
                    Some(limit) if self.assumed.contains(id) => Amps(a.0.min(limit.failsafe.0)),
                    _ => *a,
                };
                // A charger that cannot pause at 0 A is never sent less than its minimum
                // (its profile says so); the accounting then counts the minimum (S1).
                let first = match self.settings.chargers.get(id) {
                    Some(c) if !c.quirks.zero_pause => Amps(first.0.max(c.min_current.0)),
                    _ => first,
                };
                // No chatter: an increase waits out the minimum interval since the
                // charger's last limit (the loop's short tick tries it again). Held here,
                // before the round, so that a held increase reserves no room another
                // charger could use now.
                let recent = self
                    .last_sent
                    .get(id)
                    .is_some_and(|t| now - *t < self.settings.min_interval);
                let first = match self.limits.get(id) {
                    Some(limit) if recent => Amps(first.0.min(limit.effective(now).0)),
                    _ => first,
                };
                (id.clone(), first)
            })
            .collect();
        let decided = round::decide(
            &targets,
            &self.limits,
            &wanted.rows,
            self.settings.policy,
            now,
        );
        for held in &decided.held {
            tracing::debug!(charger = %held.0, wanted = held.1.0, row = held.2, "increase held");
        }
        let increases = decided.increases;
        // S2: every reduction is issued before any increase.
        for send in decided.reductions.into_iter().chain(increases) {
            let why = match wanted.notes.get(&send.charger) {
                Some(note) => format!("{}, {note}: {}", wanted.why, send.reason),
                None => format!("{}: {}", wanted.why, send.reason),
            };
            self.send(&send.charger, send.limit, why, now);
        }
    }

    fn sync_baselines(&mut self) {
        for (id, limit) in self.limits.iter_mut() {
            limit.baseline_acknowledged = self.baseline.is_acknowledged(id);
        }
    }

    /// Records a limit as pending and queues it; `flush` sends the queue once the
    /// accounting that counts it is published, so nobody ever sees a charger apply a
    /// limit the published accounting does not yet include.
    fn send(&mut self, id: &ChargerId, current: Amps, why: String, now: DateTime<Utc>) {
        let (Some(limit), Some(charger)) =
            (self.limits.get_mut(id), self.settings.chargers.get(id))
        else {
            return;
        };
        // The same rise the grid-meter derivation puts down to a ramp (`site::load`): of
        // what the vehicle was last told, not of what the accounting counts.
        let increase = limit
            .ordered()
            .is_none_or(|told| current.0 >= told.0 + RAMP_MIN_RISE_A);
        // `min-interval-s` runs from the last change of limit: a lease refresh resends the
        // same one and must not start it again (refreshed every half lease, an increase
        // could otherwise wait for ever). A change is one of the limit the charger applies,
        // on its own step (`step-a`, as `profile` sends it): a cut the step rounds away is
        // none.
        let on_step = |a| profile::on_charger_step(a, &charger.quirks);
        let changed = limit
            .ordered()
            .is_none_or(|told| on_step(told) != on_step(current));
        limit.pending = Some(current);
        if changed {
            self.last_sent.insert(id.clone(), now);
        }
        self.outbox.push(Queued {
            charger: charger.clone(),
            limit: current,
            why,
            at: now,
            increase,
        });
    }

    /// Asks each charger the control loop wants a sample of, once per load rise, and
    /// not while a limit to it is on its way (a reduction goes first).
    fn ask_after_rise(&mut self, wanted: &DispatchInput) {
        self.asked_after_rise
            .retain(|id, _| wanted.samples_wanted.contains_key(id));
        for (id, &rise) in &wanted.samples_wanted {
            // A limit on its way goes first (one CALL at a time per connection): the
            // charger is asked on a later pass, once it answered.
            let sending = self.limits.get(id).is_some_and(|l| l.pending.is_some());
            if sending || self.asked_after_rise.get(id) == Some(&rise) {
                continue;
            }
            self.asked_after_rise.insert(id.clone(), rise);
            let (chargers, csms) = (self.chargers.clone(), self.csms.clone());
            let (refusing, id) = (self.no_meter_trigger.clone(), id.clone());
            tokio::spawn(async move {
                samples::after_rise(&chargers, &csms, &id, rise, &refusing).await;
            });
        }
    }

    /// Sends the queued limits, in queue order (reductions first, S2).
    fn flush(&mut self) {
        for queued in self.outbox.drain(..) {
            let (chargers, csms, settings, answers) = (
                self.chargers.clone(),
                self.csms.clone(),
                self.settings.clone(),
                self.answers.clone(),
            );
            let no_meter_trigger = self.no_meter_trigger.clone();
            tokio::spawn(async move {
                let Queued {
                    charger,
                    limit,
                    why,
                    at,
                    increase,
                } = queued;
                let outcome =
                    send_lease(&chargers, &csms, &settings, &charger, limit, why, at).await;
                let _ = answers.send(Answer {
                    charger: charger.id.clone(),
                    limit,
                    outcome,
                    sent_at: at,
                });
                if increase && outcome == Outcome::Accepted {
                    samples::confirm_ramp(&chargers, &csms, &charger.id, limit, &no_meter_trigger)
                        .await;
                }
            });
        }
    }
}

/// A charger as dispatch counts it before it took a limit of ours: it may still hold a
/// lease from before chargegate (re)started (or from another CSMS), up to its maximum and
/// for up to one lease, so it counts so until a new lease replaces it (the lease profile
/// id is fixed, so a new one replaces the old on the charger).
fn assumed_at_max(c: &Charger, until: DateTime<Utc>) -> ChargerLimit {
    ChargerLimit {
        acknowledged: Some((c.max_current, Some(until))),
        pending: None,
        uncertain: None,
        // Not connected yet: it may draw whatever it falls back to.
        responsive: false,
        baseline_acknowledged: false,
        distrusted: false,
        following: None,
        failsafe: c.failsafe_current,
        max: c.max_current,
        min: c.min_current,
        priority: c.priority,
    }
}

/// Sends one leased limit: a TxProfile on the running transaction's EVSE, else a
/// station-wide TxDefaultProfile; with `verify`, reads the composite schedule back.
async fn send_lease(
    chargers: &Chargers,
    csms: &Csms,
    settings: &DispatchSettings,
    charger: &Charger,
    current: Amps,
    why: String,
    now: DateTime<Utc>,
) -> Outcome {
    let open = open_transaction(csms, &charger.id).await;
    let quirks = &charger.quirks;
    // A charger that ignores TxProfile gets the station-wide TxDefaultProfile even during
    // a transaction (its profile says it applies that to the running transaction).
    let (evse_id, tx) = match open {
        Some((evse, key)) if quirks.tx_profile => (evse, Some(key)),
        _ => (0, None),
    };
    let profile = profile::lease(
        charger,
        current,
        quirks,
        settings.voltage,
        tx,
        now,
        settings.lease_s,
    );
    let sent = profile.schedule.periods.first().map_or(0.0, |p| p.limit);
    let reason = format!("{why} (lease {} s)", settings.lease_s);
    match chargers
        .send(
            &charger.id,
            ChargerCommand::SetChargingProfile { evse_id, profile },
            reason,
        )
        .await
    {
        Ok(reply) if reply.is_accepted() => {}
        Ok(_) => return Outcome::NotApplied,
        Err(
            e @ (CommandError::CallError { .. }
            | CommandError::BadReply(_)
            | CommandError::NotInVersion(_)),
        ) => {
            tracing::warn!(charger = %charger.id, limit = current.0, "limit not applied: {e}");
            return Outcome::NotApplied;
        }
        Err(e @ (CommandError::NotConnected | CommandError::Busy)) => {
            // Never written to the charger.
            tracing::warn!(charger = %charger.id, limit = current.0, "limit not sent: {e}");
            return Outcome::NotApplied;
        }
        Err(e @ (CommandError::Timeout | CommandError::Disconnected)) => {
            tracing::warn!(charger = %charger.id, limit = current.0, "no answer, the limit may be in force: {e}");
            return Outcome::Unknown;
        }
    }
    if !settings.verify {
        return Outcome::Accepted;
    }
    let check = ChargerCommand::GetCompositeSchedule {
        evse_id,
        duration_s: 60,
        rate_unit: None,
    };
    let reason = format!("verify the {sent} limit just accepted");
    let reported = match chargers.send(&charger.id, check, reason).await {
        Ok(CommandReply::CompositeSchedule {
            accepted: true,
            schedule: Some(schedule),
        }) => schedule.periods.first().map(|p| match schedule.rate_unit {
            RateUnit::Amps => p.limit,
            RateUnit::Watts => {
                Watts(p.limit)
                    .to_amps(settings.voltage, p.phases.unwrap_or(charger.phases))
                    .0
            }
        }),
        // No answer to the check is not a contradiction: the limit stays accepted.
        _ => return Outcome::Accepted,
    };
    // Within one rounding step (0.1 A, or the W conversion's rounding).
    let outcome = match reported {
        Some(applied) if applied <= current.0 + 0.15 => Outcome::Accepted,
        other => Outcome::Misreported(other),
    };
    record_verification(csms, &charger.id, current, reported, now).await;
    outcome
}

/// Records a verification's verdict as a charger event (`store::VERIFIED`,
/// `store::MISREPORTED`; detail `accepted <A> reported <A or none>`), which the alerts
/// follow (`composite-misreported`).
async fn record_verification(
    csms: &Csms,
    id: &ChargerId,
    accepted: Amps,
    reported: Option<f64>,
    now: DateTime<Utc>,
) {
    let kind = match reported {
        Some(applied) if applied <= accepted.0 + 0.15 => store::VERIFIED,
        _ => store::MISREPORTED,
    };
    let detail = format!(
        "accepted {} reported {}",
        accepted.0,
        reported.map_or_else(
            || "none".to_string(),
            |r| ((r * 10.0).round() / 10.0).to_string()
        )
    );
    let charger = id.to_string();
    if let Err(e) = csms
        .store()
        .call(move |c| store::charger_event(c, &charger, kind, &detail, now))
        .await
    {
        tracing::error!(charger = %id, "cannot record the verification: {e}");
    }
}

/// The charger's running transaction, (EVSE, OCPP id), if any; a store error
/// reads as none (the lease then goes out station-wide, which covers the transaction too).
pub(super) async fn open_transaction(csms: &Csms, id: &ChargerId) -> Option<(u32, TxKey)> {
    let key = id.to_string();
    // The read-only connection: this read stands between a decided limit and the wire,
    // and must not wait behind other chargers' commits (`store::reader`).
    csms.store()
        .read(move |c| store::open_transaction_of(c, &key))
        .await
        .ok()
        .flatten()
}
