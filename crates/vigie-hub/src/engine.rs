//! The engine: runs at its own pace, never inside an HTTP handler.
//!
//! Three loops, each small and bounded:
//! - **escalation**: `tick(now)` runs the escalation steps that are due;
//!   the loop calls it when woken and at least every `ENGINE_POLL_MS`.
//!   Tests call `tick` themselves after moving a manual clock.
//! - **dispatch**: takes pending SMS from the store in priority order (an
//!   alarm's first SMS before any second SMS), submits them through the
//!   gateways within each gateway's window, and records the outcomes in
//!   batches. A crash between a submit and its record means the SMS is sent
//!   again once on restart: at most one duplicate per contact per crash.
//! - **inbound**: delivery receipts and replies from the gateways, stored
//!   in batches (one store commit for many), each answered to its gateway
//!   only once committed, so that an SMSC is told "taken" only for what is
//!   on disk. On shutdown it stores what the gateways handed over while
//!   they close.
//! - **clock**: before each escalation pass, a step of the wall clock that
//!   the clock has seen is adopted: every pending deadline is moved by it
//!   in one transaction (`adopt_clock_step`), so no step is skipped or held
//!   back. The supervision loop leaves a mark of the hub's time so that
//!   the next start can tell a step that happened while it was stopped.
//! - **supervision**: every quarter heartbeat interval (at most 5 s), writes the heartbeats
//!   kept in memory and runs `supervise(now)`: silent boxes are declared
//!   offline, returns noticed, holders told while their shop is open.
//!   Tests call `supervise` themselves after moving a manual clock.

use crate::clock::{ClockMark, ClockStep, SharedClock};
use crate::gateway::{
    Delivery, Gateway, GatewayError, Inbound, Kept, KeptTx, OutgoingSms, ReceiptRef,
};
use crate::leases::Leases;
use crate::store::{
    DeliveredReceipt, Module, PendantReceipt, SmsReceived, StepSeen, Store, StoreError,
    SubmitOutcome,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use vigie_core::gsm::Encoding;
use vigie_core::{PhoneNumber, Timestamp};

/// The loops look for work at least this often, even if nobody wakes them.
const ENGINE_POLL_MS: u64 = 500;
/// Heartbeats are written and boxes judged every quarter heartbeat
/// interval, within these bounds: a box is declared offline at most one
/// pass after its limit (180 s by default), and a crash loses at most one
/// pass of the latest heartbeats.
const SUPERVISION_PASS_MS_MAX: u64 = 5_000;
const SUPERVISION_PASS_MS_MIN: u64 = 100;
/// Nonces of state-changing device requests are kept this long: longer
/// than the signature window (±300 s by default, at most ±1800 s).
const NONCES_KEPT_S: i64 = 3_600;
/// Outcomes recorded per store transaction at most.
const OUTCOMES_PER_WRITE_MAX: usize = 512;
/// Inbound messages stored together at most (one store batch).
const INBOUND_PER_PASS_MAX: usize = 512;
/// A gateway that stays unavailable is reported again this often.
const DOWN_SUMMARY_MS: u64 = 60_000;
/// After "throttled", a gateway pauses this long, doubling up to the maximum.
const THROTTLE_PAUSE_MS_MIN: u64 = 20;
const THROTTLE_PAUSE_MS_MAX: u64 = 2_000;
/// After a transient failure, a gateway is skipped this long (doubling), so
/// the next gateway takes over; a gateway that says it is ready again (an
/// SMPP link bound) is used at once.
const DOWN_PAUSE_MS_MIN: u64 = 500;
const DOWN_PAUSE_MS_MAX: u64 = 2_000;

#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: SharedClock,
    wake_escalation: Arc<Notify>,
    wake_dispatch: Arc<Notify>,
    /// One supervision pass at a time (the loop's and a test's).
    supervision: Arc<tokio::sync::Mutex<()>>,
    /// One clock step adopted at a time; the steps the clock adopted whose
    /// deadlines could not be moved yet (the database failed), retried.
    clock_steps: Arc<tokio::sync::Mutex<Vec<ClockStep>>>,
    /// Which modules run their passes on this hub (several hubs share a
    /// database: each module runs on the one that holds its lease).
    leases: Leases,
}

impl Engine {
    /// An engine that runs every module (one hub, or a test driving it).
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self::with_leases(store, clock, Leases::sole())
    }

    /// An engine whose loops run a pass only while `leases` holds their module.
    pub fn with_leases(store: Store, clock: SharedClock, leases: Leases) -> Self {
        Self {
            leases,
            store,
            clock,
            wake_escalation: Arc::new(Notify::new()),
            wake_dispatch: Arc::new(Notify::new()),
            supervision: Arc::new(tokio::sync::Mutex::new(())),
            clock_steps: Arc::new(tokio::sync::Mutex::new(Vec::new())),
        }
    }

    /// Adopt a step of the wall clock that the clock has seen: move every
    /// pending deadline by it in one transaction, then let the clock follow
    /// the wall clock again. Returns the step adopted, if there was one.
    pub async fn adopt_clock_step(&self) -> Result<Option<ClockStep>, StoreError> {
        let mut unmoved = self.clock_steps.lock().await;
        // Steps adopted by the clock whose deadlines a failed write left behind.
        while let Some(step) = unmoved.first().copied() {
            self.store
                .clock_stepped(step, StepSeen::Running, || {})
                .await?;
            unmoved.remove(0);
        }
        let Some(step) = self.clock.pending_step() else {
            return Ok(None);
        };
        let clock = self.clock.clone();
        let store = self.store.clone();
        let result = self
            .store
            .clock_stepped(step, StepSeen::Running, move || {
                store.shift_heartbeats(step.delta_ms);
                clock.adopt(step);
            })
            .await;
        if let Err(e) = result {
            unmoved.push(step);
            return Err(e);
        }
        tracing::warn!(
            step = %format!("{:+} s", step.delta_ms / 1_000),
            delta_ms = step.delta_ms,
            "the system clock stepped; every pending deadline moved with it (no escalation step skipped or held back)"
        );
        self.wake();
        Ok(Some(step))
    }

    /// Leave a mark of the hub's time for the next start.
    async fn mark_clock(&self) {
        let Some((boot_id, uptime_ms)) = self.clock.boot() else {
            return;
        };
        let mark = ClockMark {
            hub_ms: self.clock.now().as_ms(),
            boot_id,
            uptime_ms,
        };
        if let Err(e) = self.store.write_clock_mark(mark).await {
            tracing::error!(error = %e, "cannot write the hub's clock mark");
        }
    }

    /// At start, before anything else runs: a step of the wall clock while
    /// the hub was stopped moves every pending deadline by it.
    pub async fn check_clock_at_start(&self) -> Result<Option<i64>, StoreError> {
        let Some(mark) = self.store.clock_mark().await? else {
            self.mark_clock().await;
            return Ok(None);
        };
        let Some((boot_id, uptime_ms)) = self.clock.boot() else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(delta) = crate::clock::step_since(&mark, now.as_ms(), Some((&boot_id, uptime_ms)))
        else {
            self.mark_clock().await;
            return Ok(None);
        };
        let step = ClockStep {
            delta_ms: delta,
            seen_at: now.plus_ms(-delta),
        };
        self.store
            .clock_stepped(step, StepSeen::AtStart, || {})
            .await?;
        tracing::warn!(
            step = %format!("{:+} s", delta / 1_000),
            delta_ms = delta,
            "the system clock stepped while the hub was stopped; every pending deadline moved with it"
        );
        self.mark_clock().await;
        Ok(Some(delta))
    }

    /// Write the heartbeats kept in memory, then judge every box at `now`.
    /// Returns how many SMS it queued for holders.
    pub async fn supervise(&self, now: Timestamp) -> Result<u32, StoreError> {
        let _one_at_a_time = self.supervision.lock().await;
        // Every hub writes the heartbeats it was given; one judges.
        self.store.flush_health().await?;
        if !self.leases.holds(Module::Supervision) {
            return Ok(0);
        }
        self.store
            .forget_nonces_before(now.as_ms() / 1_000 - NONCES_KEPT_S)
            .await?;
        let queued =
            self.store.supervise(now).await? + self.store.supervise_transmitters(now).await?;
        if queued > 0 {
            self.wake_dispatch();
        }
        Ok(queued)
    }

    /// The supervision loop; writes the last heartbeats on shutdown.
    pub async fn run_supervision(self, mut shutdown: watch::Receiver<bool>) {
        let interval_ms = self.store.rules().supervision.heartbeat_interval_ms.max(0) as u64;
        let pass_ms = (interval_ms / 4).clamp(SUPERVISION_PASS_MS_MIN, SUPERVISION_PASS_MS_MAX);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(pass_ms)) => {}
                _ = shutdown.changed() => {
                    if let Err(e) = self.store.flush_health().await {
                        tracing::error!(error = %e, "cannot write the last heartbeats");
                    }
                    return;
                }
            }
            if let Err(e) = self.supervise(self.clock.now()).await {
                tracing::error!(error = %e, "supervision pass failed; retrying");
            }
            self.mark_clock().await;
        }
    }

    /// Which modules run here.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// Something was written that the dispatcher should send now.
    pub fn wake_dispatch(&self) {
        self.wake_dispatch.notify_one();
    }

    /// Something changed that may need an escalation step.
    pub fn wake(&self) {
        self.wake_escalation.notify_one();
        self.wake_dispatch.notify_one();
    }

    /// Run every escalation step due at `now`. Returns how many SMS it queued.
    pub async fn tick(&self, now: Timestamp) -> Result<u32, StoreError> {
        let mut queued = 0;
        loop {
            let due = self.store.due_alarms(now).await?;
            if due.is_empty() {
                break;
            }
            let n = due.len();
            queued += self.store.advance_alarms(due, now).await?;
            if n < crate::store::DUE_ALARMS_PER_PASS_MAX {
                break;
            }
        }
        if queued > 0 {
            self.wake_dispatch();
        }
        Ok(queued)
    }

    /// The escalation loop.
    pub async fn run_escalation(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            // Another hub runs escalation: look again at the next poll.
            let mut wait = ENGINE_POLL_MS;
            if self.leases.holds(Module::Escalation) {
                if let Err(e) = self.adopt_clock_step().await {
                    tracing::error!(error = %e, "cannot move the deadlines by the clock's step; retrying");
                }
                let now = self.clock.now();
                if let Err(e) = self.tick(now).await {
                    tracing::error!(error = %e, "escalation pass failed; retrying");
                }
                if let Ok(Some(t)) = self.store.next_step_due().await {
                    wait = (t.ms_since(self.clock.now()).max(0) as u64).min(ENGINE_POLL_MS);
                }
            }
            tokio::select! {
                _ = self.wake_escalation.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The inbound loop: receipts and replies, stored in batches, each
    /// answered to its gateway once committed. It stops when `stop` is set
    /// (after the gateways have closed), storing what is already queued.
    pub async fn run_inbound(
        self,
        mut rx: mpsc::Receiver<Delivery>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                d = rx.recv() => d,
                _ = stop.changed() => {
                    rx.close();
                    rx.try_recv().ok()
                }
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while batch.len() < INBOUND_PER_PASS_MAX {
                match rx.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            let now = self.clock.now();
            // Delivered receipts by message id, the bulk of a storm's
            // inbound traffic, are stored together in one write; the rest
            // one write each, concurrently (they share one commit anyway).
            let (receipts, others): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(Delivery::into_parts)
                .partition(|(event, _)| {
                    matches!(
                        event,
                        Inbound::Receipt {
                            reference: ReceiptRef::MessageId(_),
                            delivered: true,
                            ..
                        }
                    )
                });
            let (receipts_stored, stored) = futures::future::join(
                self.keep_receipts(receipts, now),
                futures::future::join_all(
                    others
                        .into_iter()
                        .map(|(event, done)| self.keep(event, done, now)),
                ),
            )
            .await;
            if receipts_stored || stored.into_iter().any(|s| s) {
                self.wake();
            }
        }
    }

    /// Store delivered receipts (by message id) in one write and answer
    /// each one's gateway; true if stored.
    async fn keep_receipts(&self, receipts: Vec<(Inbound, KeptTx)>, now: Timestamp) -> bool {
        if receipts.is_empty() {
            return false;
        }
        let (events, dones): (Vec<_>, Vec<_>) = receipts.into_iter().unzip();
        let delivered: Vec<DeliveredReceipt> = events
            .into_iter()
            .filter_map(|event| match event {
                Inbound::Receipt {
                    gateway,
                    reference: ReceiptRef::MessageId(message_id),
                    detail,
                    ..
                } => Some(DeliveredReceipt {
                    gateway,
                    message_id,
                    detail,
                }),
                _ => None,
            })
            .collect();
        let count = delivered.len();
        let kept = match self.store.record_deliveries(delivered, now).await {
            Ok(()) => {
                tracing::info!(receipts = count, "SMS delivery receipts stored");
                Kept::Stored
            }
            Err(e) => {
                tracing::error!(error = %e, receipts = count, "delivery receipts could not be stored; the gateway is told to have them sent again");
                Kept::Failed
            }
        };
        let stored = matches!(kept, Kept::Stored);
        for done in dones {
            done.send(kept);
        }
        stored
    }

    /// Store one inbound message and answer its gateway; true if stored.
    async fn keep(&self, event: Inbound, done: KeptTx, now: Timestamp) -> bool {
        let result = match event {
            Inbound::Receipt {
                gateway,
                reference,
                delivered,
                detail,
            } => {
                let about = format!("{reference:?}");
                let r = self
                    .store
                    .record_receipt(gateway.clone(), reference, delivered, detail.clone(), now)
                    .await;
                if r.is_ok() {
                    tracing::info!(%gateway, reference = %about, delivered, %detail, "SMS delivery receipt stored");
                }
                r
            }
            Inbound::Reply {
                gateway,
                from,
                text,
            } => {
                let r = self.store.receive_sms(&gateway, &from, &text, now).await;
                let from = PhoneNumber::parse(&from)
                    .map_or_else(|_| "(not a number)".to_string(), |p| p.to_string());
                match &r {
                    Ok(SmsReceived::Reply(reply)) => {
                        tracing::info!(%gateway, %from, understood = ?reply, "SMS reply stored");
                    }
                    Ok(SmsReceived::Pendant(p)) => log_pendant_sms(&gateway, &from, p),
                    Err(_) => {}
                }
                r.map(|_| ())
            }
        };
        match result {
            Ok(()) => {
                done.send(Kept::Stored);
                true
            }
            Err(StoreError::Refused { code, message }) => {
                tracing::info!(code, %message, "inbound message refused (acknowledged, nothing to do)");
                done.send(Kept::Refused);
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "inbound message could not be stored; the gateway is told to have it sent again");
                done.send(Kept::Failed);
                false
            }
        }
    }

    /// The dispatch loop.
    pub async fn run_dispatch(
        self,
        gateways: Vec<Arc<dyn Gateway>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if gateways.is_empty() {
            tracing::error!("no SMS gateway configured: alarms are stored but no SMS can be sent");
        }
        let others = gateways.len() > 1;
        for g in &gateways {
            g.wake_when_ready(self.wake_dispatch.clone());
        }
        let mut lanes: Vec<Lane> = gateways.into_iter().map(|g| Lane::new(g, others)).collect();
        let window_total: usize = lanes.iter().map(|l| l.gateway.window()).sum();
        // In flight: notification id → priority.
        let mut inflight: HashMap<i64, u8> = HashMap::new();
        let (done_tx, mut done_rx) = mpsc::channel::<Done>(window_total.max(1) * 2);
        loop {
            // Fill every free slot with the most urgent pending SMS, on
            // the one hub that holds the dispatch lease (what is in flight
            // when it is lost is still answered and recorded).
            if inflight.len() < window_total && self.leases.holds(Module::Dispatch) {
                let now = self.clock.now();
                match self
                    .store
                    .pending_notifications(now, window_total + inflight.len())
                    .await
                {
                    Ok(pending) => {
                        for n in pending {
                            if inflight.contains_key(&n.id) {
                                continue;
                            }
                            // Submits in flight reach the SMSC in any order: a
                            // less urgent SMS starts only once every more
                            // urgent one in flight is answered (ADR 0002), so
                            // the order holds at the SMSC, not just here.
                            if inflight.values().any(|&p| p < n.priority) {
                                break;
                            }
                            let Some((lane, permit)) = pick_lane(&mut lanes, n.attempt as usize)
                            else {
                                break;
                            };
                            let Ok(to) = PhoneNumber::parse(&n.phone) else {
                                let _ = self
                                    .store
                                    .record_submits(
                                        vec![(
                                            n.id,
                                            SubmitOutcome::Rejected {
                                                gateway: "-".into(),
                                                error: "numéro invalide".into(),
                                            },
                                        )],
                                        now,
                                    )
                                    .await;
                                continue;
                            };
                            inflight.insert(n.id, n.priority);
                            let gateway = lanes[lane].gateway.clone();
                            let tx = done_tx.clone();
                            let about = About {
                                alarm: n.alarm_id,
                                purpose: n.purpose,
                                priority: n.priority,
                                attempt: n.attempt,
                            };
                            let sms = OutgoingSms {
                                notification_id: n.id,
                                to,
                                encoding: Encoding::of(&n.text),
                                text: n.text,
                            };
                            tokio::spawn(async move {
                                let result = gateway.submit(&sms).await;
                                drop(permit);
                                let _ = tx
                                    .send(Done {
                                        id: sms.notification_id,
                                        lane,
                                        about,
                                        result,
                                    })
                                    .await;
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read pending SMS"),
                }
            }
            // A paused or paced gateway may send again sooner than the poll: look again then.
            let now = Instant::now();
            let wait = lanes
                .iter()
                .filter(|l| l.ready_at() > now)
                .map(|l| l.ready_at() - now)
                .min()
                .unwrap_or(Duration::from_millis(ENGINE_POLL_MS))
                .min(Duration::from_millis(ENGINE_POLL_MS));
            let first = tokio::select! {
                d = done_rx.recv() => d,
                _ = self.wake_dispatch.notified() => None,
                _ = tokio::time::sleep(wait) => None,
                _ = shutdown.changed() => {
                    // Let each gateway answer what it handed to the inbound
                    // loop and close its link.
                    futures::future::join_all(lanes.iter().map(|l| l.gateway.close())).await;
                    return;
                }
            };
            let Some(first) = first else { continue };
            let mut done = vec![first];
            while done.len() < OUTCOMES_PER_WRITE_MAX {
                match done_rx.try_recv() {
                    Ok(d) => done.push(d),
                    Err(_) => break,
                }
            }
            let mut outcomes = Vec::with_capacity(done.len());
            for d in done {
                inflight.remove(&d.id);
                let lane = &mut lanes[d.lane];
                let name = lane.gateway.name().to_string();
                match d.result {
                    Ok(s) => {
                        lane.ok();
                        tracing::info!(
                            gateway = %name,
                            notification = d.id,
                            alarm = ?d.about.alarm,
                            purpose = %d.about.purpose,
                            priority = d.about.priority,
                            attempt = d.about.attempt,
                            message_id = s.message_id.as_deref().unwrap_or("-"),
                            "SMS accepted by the gateway"
                        );
                        outcomes.push((
                            d.id,
                            SubmitOutcome::Submitted {
                                gateway: name,
                                message_id: s.message_id,
                            },
                        ));
                    }
                    // Still pending, in its place in the queue: sent when the pause ends.
                    Err(GatewayError::Throttled) => lane.throttled(),
                    Err(GatewayError::Transient(e)) => {
                        lane.down(&e);
                        outcomes.push((
                            d.id,
                            SubmitOutcome::Retry {
                                gateway: name,
                                error: e,
                            },
                        ));
                    }
                    Err(GatewayError::Rejected(e)) => {
                        tracing::warn!(gateway = %name, notification = d.id, alarm = ?d.about.alarm, purpose = %d.about.purpose, error = %e, "SMS refused by the gateway for good");
                        outcomes.push((
                            d.id,
                            SubmitOutcome::Rejected {
                                gateway: name,
                                error: e,
                            },
                        ))
                    }
                }
            }
            if !outcomes.is_empty()
                && let Err(e) = self.store.record_submits(outcomes, self.clock.now()).await
            {
                tracing::error!(error = %e, "cannot record submit outcomes; the SMS will be sent again");
            }
        }
    }
}

struct Done {
    id: i64,
    lane: usize,
    about: About,
    result: Result<crate::gateway::Submitted, GatewayError>,
}

/// What an SMS is, for the operator's log.
struct About {
    alarm: Option<uuid::Uuid>,
    purpose: String,
    priority: u8,
    attempt: u32,
}

/// A fault episode of a lane (down or throttled), logged when it starts,
/// summarised while it lasts, and closed when the gateway works again.
#[derive(Default)]
struct Episode {
    since: Option<Instant>,
    count: u64,
    reported: Option<Instant>,
}

impl Episode {
    /// Count one occurrence; true when it starts an episode.
    fn hit(&mut self, now: Instant) -> bool {
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(now);
            self.reported = Some(now);
            return true;
        }
        false
    }
    /// Whether a summary of a long episode is due.
    fn summary_due(&mut self, now: Instant) -> bool {
        match self.reported {
            Some(at) if now.duration_since(at) >= Duration::from_millis(DOWN_SUMMARY_MS) => {
                self.reported = Some(now);
                true
            }
            _ => false,
        }
    }
    fn end(&mut self) -> Option<(Duration, u64)> {
        let since = self.since.take()?;
        self.reported = None;
        Some((since.elapsed(), std::mem::take(&mut self.count)))
    }
}

/// A gateway with its window and health, for the dispatcher only.
struct Lane {
    gateway: Arc<dyn Gateway>,
    window: Arc<Semaphore>,
    paused_until: Instant,
    throttle_pause_ms: u64,
    down_pause_ms: u64,
    pace: Option<Pace>,
    /// Whether another gateway can take over when this one fails.
    others: bool,
    down: Episode,
    /// The gateway said it was not ready when it failed: used again as soon
    /// as it says it is (no pause after an outage ends).
    down_unready: bool,
    throttling: Episode,
}

/// Pacing to an agreed rate (GCRA): a submit is allowed when the
/// theoretical arrival time is no further ahead than the burst tolerance.
struct Pace {
    interval: Duration,
    burst: Duration,
    tat: Instant,
}

/// Submits a paced gateway may send back to back before pacing applies.
const PACE_BURST_SUBMITS: u32 = 10;

impl Pace {
    fn new(per_s: u32) -> Self {
        let interval = Duration::from_secs(1) / per_s.max(1);
        Self {
            interval,
            burst: interval * PACE_BURST_SUBMITS,
            tat: Instant::now(),
        }
    }
    /// When the next submit is allowed.
    fn ready_at(&self) -> Instant {
        self.tat.checked_sub(self.burst).unwrap_or(self.tat)
    }
    fn take(&mut self, now: Instant) {
        self.tat = self.tat.max(now) + self.interval;
    }
}

impl Lane {
    fn new(gateway: Arc<dyn Gateway>, others: bool) -> Self {
        let window = Arc::new(Semaphore::new(gateway.window().max(1)));
        let pace = gateway.max_per_s().map(Pace::new);
        Self {
            gateway,
            window,
            paused_until: Instant::now(),
            throttle_pause_ms: THROTTLE_PAUSE_MS_MIN,
            down_pause_ms: DOWN_PAUSE_MS_MIN,
            pace,
            others,
            down: Episode::default(),
            down_unready: false,
            throttling: Episode::default(),
        }
    }
    /// When this lane may send again (in the past if it may send now).
    fn ready_at(&self) -> Instant {
        let paced = self.pace.as_ref().map_or(self.paused_until, Pace::ready_at);
        self.paused_until.max(paced)
    }
    fn ok(&mut self) {
        self.throttle_pause_ms = THROTTLE_PAUSE_MS_MIN;
        self.down_pause_ms = DOWN_PAUSE_MS_MIN;
        self.down_unready = false;
        let gateway = self.gateway.name();
        if let Some((lasted, failures)) = self.down.end() {
            tracing::info!(
                gateway,
                down_ms = lasted.as_millis() as u64,
                failures,
                "gateway sending again after {} s ({failures} submits failed meanwhile)",
                lasted.as_secs()
            );
        }
        if let Some((lasted, throttled)) = self.throttling.end() {
            tracing::info!(
                gateway,
                throttled_ms = lasted.as_millis() as u64,
                throttled,
                "gateway no longer throttling ({throttled} submits were asked to wait)"
            );
        }
    }
    /// Whether the lane is paused now; a lane paused because its gateway
    /// was not ready resumes as soon as the gateway is ready again.
    fn is_paused(&mut self, now: Instant) -> bool {
        if self.paused_until <= now {
            return false;
        }
        if self.down_unready && self.gateway.is_ready() {
            self.down_unready = false;
            self.paused_until = now;
            return false;
        }
        true
    }
    /// Every submit in flight may fail at once when a link drops or the
    /// SMSC throttles: the pause grows once per episode, not once per SMS,
    /// so one outage does not keep alarms waiting long after it ends.
    fn throttled(&mut self) {
        let now = Instant::now();
        if self.throttling.hit(now) {
            tracing::info!(
                gateway = self.gateway.name(),
                "gateway throttling (ESME_RTHROTTLED / 429): pausing and sending more slowly; SMS keep their order"
            );
        }
        if self.paused_until > now {
            return;
        }
        self.paused_until = now + Duration::from_millis(self.throttle_pause_ms);
        self.throttle_pause_ms = (self.throttle_pause_ms * 2).min(THROTTLE_PAUSE_MS_MAX);
    }
    fn down(&mut self, error: &str) {
        let now = Instant::now();
        let gateway = self.gateway.name();
        if self.down.hit(now) {
            let then = if self.others {
                "the other gateways take its SMS"
            } else {
                "SMS wait for it, in their order"
            };
            tracing::warn!(gateway, %error, "gateway cannot send: {then}");
        } else if self.down.summary_due(now) {
            let lasted = self
                .down
                .since
                .map_or(0, |s| now.duration_since(s).as_secs());
            tracing::warn!(gateway, %error, failures = self.down.count, "gateway still cannot send after {lasted} s");
        } else {
            tracing::debug!(gateway, %error, "gateway submit failed (transient)");
        }
        self.down_unready = !self.gateway.is_ready();
        if self.paused_until > now {
            return;
        }
        self.paused_until = now + Duration::from_millis(self.down_pause_ms);
        self.down_pause_ms = (self.down_pause_ms * 2).min(DOWN_PAUSE_MS_MAX);
    }
}

/// The gateway for an attempt: the attempt's preferred one (attempt n uses
/// gateway n mod count, so a retry goes another way), else the next that is
/// not paused. `None` if the chosen one's window is full or all are paused.
fn pick_lane(lanes: &mut [Lane], attempt: usize) -> Option<(usize, OwnedSemaphorePermit)> {
    if lanes.is_empty() {
        return None;
    }
    let now = Instant::now();
    for k in 0..lanes.len() {
        let i = (attempt + k) % lanes.len();
        let lane = &mut lanes[i];
        if lane.is_paused(now) {
            continue;
        }
        // Paced but not yet due: wait for it rather than fail over.
        if lane.ready_at() > now {
            return None;
        }
        let permit = lane.window.clone().try_acquire_owned().ok()?;
        if let Some(pace) = lane.pace.as_mut() {
            pace.take(now);
        }
        return Some((i, permit));
    }
    None
}

/// What a pendant's SMS did, for the operator reading the logs (the
/// number masked, as everywhere).
pub(crate) fn log_pendant_sms(gateway: &str, from: &str, p: &PendantReceipt) {
    let meaning = p.meaning.as_str();
    let alarm = p.alarm.map(|a| a.to_string()).unwrap_or_default();
    if p.flood {
        tracing::warn!(%gateway, %from, pendant = p.pendant, meaning, %alarm, "pendant SMS in a flood from its number: flagged, kept");
    }
    if p.raised {
        tracing::info!(%gateway, %from, pendant = p.pendant, %alarm, position = ?p.position, sms_queued = p.sms_queued, "pendant SMS raised an alarm");
    } else {
        tracing::info!(%gateway, %from, pendant = p.pendant, meaning, %alarm, position = ?p.position, "pendant SMS stored (no alarm raised: a repeat, information, or words that never cancel)");
    }
}
