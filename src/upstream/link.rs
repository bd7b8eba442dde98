//! The broker connection: publishes the outbox in order, deletes what the broker
//! acknowledged, takes commands, and says `online` / `offline` on `status`.
//!
//! rumqttc's `publish` does not return the packet id, and it drops unacknowledged QoS 1
//! publishes on reconnect (CRATES.md), so the outbox is the truth: every publish request
//! is remembered in order (`Window::queued`), matched to the packet id when rumqttc
//! reports it sent (`Outgoing::Publish`, in request order), and its row deleted when the
//! broker's PUBACK for that id comes. Each connection is a new client: nothing of the last
//! one lingers in rumqttc's queues, and the outbox is published again from its oldest
//! unacknowledged message. So a message reaches the broker at least once, and its
//! `msg_id` lets the consumer drop the repeats.
//!
//! At most `WINDOW` messages are unacknowledged and at most `PER_TICK` are read from the
//! store per `TICK`: a backlog of weeks drains at a bounded rate, in small store calls that
//! never hold the store thread (which the CSMS answers from) for long.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, watch};

use super::options::{OFFLINE, ONLINE, REQUEST_CAPACITY};
use crate::clock::Clock;
use crate::http::UpstreamStatus;
use crate::store::{self, Store};

/// Unacknowledged outbox messages at most.
const WINDOW: usize = 32;
/// Outbox messages read per tick at most (so at most 200 a second).
const PER_TICK: usize = 20;
const TICK: Duration = Duration::from_millis(100);
/// The wait before the next connection attempt: doubles from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LAST_BACKOFF: Duration = Duration::from_secs(10);
/// How long a shutdown waits for `offline` to leave.
const GOODBYE: Duration = Duration::from_secs(2);

/// What the link works with.
pub(super) struct Link {
    pub options: MqttOptions,
    /// The topic prefix.
    pub prefix: String,
    pub store: Store,
    pub status: watch::Sender<UpstreamStatus>,
    /// The recorder added messages to the outbox.
    pub wake: Arc<Notify>,
    /// Commands, to the command task (bounded: a flood is answered busy).
    pub commands: mpsc::Sender<Publish>,
    /// Results to publish: topic under the prefix, payload.
    pub results: mpsc::Receiver<(String, Value)>,
    pub clock: Clock,
}

/// The publishes of one connection in flight.
#[derive(Debug, Default)]
struct Window {
    /// Publish requests in the order made, before rumqttc sent them: an outbox seq, or
    /// `None` for a message outside the outbox (status, command results).
    queued: VecDeque<Option<i64>>,
    /// Sent, waiting for the PUBACK, by packet id.
    sent: HashMap<u16, Option<i64>>,
    /// Acknowledged outbox messages not yet deleted.
    acked: Vec<i64>,
    /// The newest outbox seq requested on this connection.
    cursor: i64,
    /// The outbox may hold more after `cursor`.
    more: bool,
}

impl Window {
    /// rumqttc sent the oldest request under packet id `pkid`.
    fn sent(&mut self, pkid: u16) {
        let seq = self.queued.pop_front().flatten();
        self.sent.insert(pkid, seq);
    }

    /// The broker acknowledged packet id `pkid`.
    fn acknowledged(&mut self, pkid: u16) {
        if let Some(Some(seq)) = self.sent.remove(&pkid) {
            self.acked.push(seq);
        }
    }

    fn outbox_in_flight(&self) -> usize {
        self.queued.iter().flatten().count() + self.sent.values().flatten().count()
    }
}

/// How a connection ended.
enum Ended {
    Shutdown,
    Lost { was_up: bool, error: String },
}

/// Connects, and connects again after every loss, until shutdown.
pub(super) async fn run(mut link: Link, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    loop {
        match link.connection(&mut shutdown).await {
            Ended::Shutdown => return,
            Ended::Lost { was_up, error } => {
                if was_up {
                    backoff = FIRST_BACKOFF;
                    tracing::warn!("upstream broker connection lost: {error}");
                } else if error != last_error {
                    // Once per kind of failure: a broker gone for a day is one line.
                    tracing::warn!("cannot connect to the upstream broker: {error}");
                }
                let now = link.clock.now();
                link.status.send_modify(|s| {
                    if s.connected || s.since.is_none() {
                        s.since = Some(now);
                    }
                    s.connected = false;
                    s.last_error = Some(error.clone());
                });
                last_error = error;
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(LAST_BACKOFF);
    }
}

impl Link {
    fn topic(&self, topic: &str) -> String {
        format!("{}/{topic}", self.prefix)
    }

    async fn connection(&mut self, shutdown: &mut watch::Receiver<bool>) -> Ended {
        let (client, mut events) = AsyncClient::new(self.options.clone(), REQUEST_CAPACITY);
        let mut window = Window::default();
        let mut up = false;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    self.goodbye(&client, &mut events, &mut window, up).await;
                    return Ended::Shutdown;
                }
                event = events.poll() => match event {
                    Ok(event) => {
                        if let Err(error) = self.on_event(event, &client, &mut window, &mut up) {
                            self.flush(&mut window).await;
                            return Ended::Lost { was_up: up, error };
                        }
                    }
                    Err(e) => {
                        self.flush(&mut window).await;
                        return Ended::Lost { was_up: up, error: e.to_string() };
                    }
                },
                Some((topic, payload)) = self.results.recv(), if up => {
                    let topic = self.topic(&topic);
                    if client.try_publish(topic, QoS::AtLeastOnce, false, payload.to_string()).is_ok() {
                        window.queued.push_back(None);
                    }
                }
                _ = tick.tick() => {
                    self.flush(&mut window).await;
                    if up {
                        self.fill(&client, &mut window).await;
                    }
                }
                () = self.wake.notified() => {
                    window.more = true;
                }
            }
        }
    }

    /// One event of the connection; `Err` ends it.
    fn on_event(
        &self,
        event: Event,
        client: &AsyncClient,
        window: &mut Window,
        up: &mut bool,
    ) -> Result<(), String> {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                if ack.code != rumqttc::ConnectReturnCode::Success {
                    return Err(format!("the broker refused the connection: {:?}", ack.code));
                }
                *up = true;
                window.more = true;
                tracing::info!("connected to the upstream broker");
                let now = self.clock.now();
                self.status.send_modify(|s| {
                    s.connected = true;
                    s.since = Some(now);
                });
                let commands = self.topic("cmd/+");
                client
                    .try_subscribe(commands, QoS::AtLeastOnce)
                    .map_err(|e| e.to_string())?;
                client
                    .try_publish(self.topic("status"), QoS::AtLeastOnce, true, ONLINE)
                    .map_err(|e| e.to_string())?;
                window.queued.push_back(None);
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => window.sent(pkid),
            Event::Incoming(Packet::PubAck(ack)) => window.acknowledged(ack.pkid),
            Event::Incoming(Packet::Publish(publish)) => self.command(publish, client, window),
            _ => {}
        }
        Ok(())
    }

    /// Hands a command to the command task, or answers busy when it has too many.
    fn command(&self, publish: Publish, client: &AsyncClient, window: &mut Window) {
        let Err(mpsc::error::TrySendError::Full(publish)) = self.commands.try_send(publish) else {
            return;
        };
        let name = publish
            .topic
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let command = super::commands::read(&name, &publish.payload, self.clock.now());
        let busy = super::commands::result(
            &command,
            Err(super::commands::Refusal {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                error: "busy: too many commands at once, send it again later".into(),
            }),
        );
        let topic = self.topic(&command.result_topic());
        if client
            .try_publish(topic, QoS::AtLeastOnce, false, busy.to_string())
            .is_ok()
        {
            window.queued.push_back(None);
        }
    }

    /// Publishes the next outbox messages into the window.
    async fn fill(&self, client: &AsyncClient, window: &mut Window) {
        let room = WINDOW
            .saturating_sub(window.outbox_in_flight())
            .min(PER_TICK);
        if !window.more || room == 0 {
            return;
        }
        let after = window.cursor;
        let want = u32::try_from(room).unwrap_or(1);
        let messages = match self
            .store
            .call(move |c| store::pending_messages(c, after, want))
            .await
        {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!("cannot read the upstream outbox: {e}");
                return;
            }
        };
        window.more = messages.len() == room;
        for m in messages {
            let topic = self.topic(&m.topic);
            if client
                .try_publish(topic, QoS::AtLeastOnce, m.retain, m.payload)
                .is_err()
            {
                // rumqttc's queue is full: the rest on the next tick.
                window.more = true;
                return;
            }
            window.queued.push_back(Some(m.seq));
            window.cursor = m.seq;
        }
    }

    /// Deletes what the broker acknowledged.
    async fn flush(&self, window: &mut Window) {
        if window.acked.is_empty() {
            return;
        }
        let acked = std::mem::take(&mut window.acked);
        let n = acked.len() as u64;
        let kept = acked.clone();
        match self
            .store
            .call(move |c| store::acknowledged(c, &acked))
            .await
        {
            Ok(()) => self.status.send_modify(|s| s.delivered += n),
            // Sent again later: a duplicate with the same msg_id, never a loss.
            Err(e) => {
                tracing::warn!("cannot delete acknowledged upstream messages: {e}");
                window.acked = kept;
            }
        }
    }

    /// At shutdown: `offline` on `status`, then a clean disconnect (no last will).
    async fn goodbye(
        &self,
        client: &AsyncClient,
        events: &mut EventLoop,
        window: &mut Window,
        up: bool,
    ) {
        if !up {
            return;
        }
        let _ = client.try_publish(self.topic("status"), QoS::AtLeastOnce, true, OFFLINE);
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(GOODBYE, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(ack))) => window.acknowledged(ack.pkid),
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => window.sent(pkid),
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        self.flush(window).await;
    }
}
