//! Vigie patch: a bound on incoming commands read but not yet taken.
//!
//! Upstream reads every PDU the server sends into an unbounded channel: a
//! flood of `deliver_sm` that the application takes slower than it comes
//! grows memory without limit. The connection counts what it sends as
//! `Event::Incoming`, the event stream counts what the application takes,
//! and the connection stops reading while the difference is at the limit.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use ::futures::{Stream, task::AtomicWaker};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::Event;

#[derive(Debug)]
pub(crate) struct Backlog {
    max: Option<usize>,
    pending: AtomicUsize,
    /// The connection, parked while the backlog is full.
    reader: AtomicWaker,
}

impl Backlog {
    pub(crate) fn new(max: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            max,
            pending: AtomicUsize::new(0),
            reader: AtomicWaker::new(),
        })
    }

    pub(crate) fn add(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the connection must stop reading; if so, it is woken when
    /// the application takes an event.
    pub(crate) fn is_full(&self, cx: &mut Context<'_>) -> bool {
        let Some(max) = self.max else { return false };
        if self.pending.load(Ordering::Acquire) < max {
            return false;
        }
        self.reader.register(cx.waker());
        // Taken between the load and the registration: read again.
        self.pending.load(Ordering::Acquire) >= max
    }

    fn taken(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.reader.wake();
    }
}

/// The event stream handed to the application.
#[derive(Debug)]
pub(crate) struct Events {
    rx: UnboundedReceiverStream<Event>,
    backlog: Arc<Backlog>,
}

impl Events {
    pub(crate) fn new(rx: UnboundedReceiverStream<Event>, backlog: Arc<Backlog>) -> Self {
        Self { rx, backlog }
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let polled = Pin::new(&mut self.rx).poll_next(cx);
        if let Poll::Ready(Some(Event::Incoming(_))) = &polled {
            self.backlog.taken();
        }
        polled
    }
}
