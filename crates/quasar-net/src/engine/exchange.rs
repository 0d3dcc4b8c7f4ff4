//! One exchange in flight: a consumer, how it lives, and who waits for its result.

use std::time::Instant;

use crate::connection::reply_slot::ReplySlot;
use crate::consumer::{BoxConsumer, Lifetime};
use crate::ProtocolConsumer;

/// The consumer of an exchange: built by the connection's factory, or by the factory an
/// upgrade installed (boxed, with the same request and response types).
pub(crate) enum Current<C: ProtocolConsumer> {
    Static(C),
    Upgraded(BoxConsumer<C::Request, C::Response>),
}

/// Calls a consumer method on whichever kind of consumer an exchange holds.
macro_rules! with_consumer {
    ($cur:expr, $c:ident => $body:expr) => {
        match $cur {
            $crate::engine::exchange::Current::Static($c) => $body,
            $crate::engine::exchange::Current::Upgraded($c) => $body,
        }
    };
}
pub(crate) use with_consumer;

/// Who receives an exchange's result.
pub(crate) enum ReplyTo<Resp> {
    /// A server exchange: nobody; the response went to the peer.
    Server,
    /// A client request: the caller, if it is still waiting (a dropped receiver means
    /// the caller gave up; the reply is still read and discarded).
    Caller(ReplySlot<Resp>),
    /// Unsolicited bytes on a client connection: the result goes to the push sink.
    Push,
}

/// A client request travelling from a `ClientConnection` to its engine.
pub(crate) struct Call<Req, Resp> {
    pub(crate) request: Req,
    pub(crate) reply: ReplySlot<Resp>,
}

/// One exchange in flight.
pub(crate) struct Exchange<C: ProtocolConsumer> {
    pub(crate) consumer: Current<C>,
    pub(crate) lifetime: Lifetime,
    /// Server: the first bytes arrived and `pre_request` fired. Clients start at once.
    pub(crate) started: bool,
    /// Bytes this exchange consumed, to tell a stall from progress.
    pub(crate) consumed: usize,
    /// When the request started: its request-timeout clock.
    pub(crate) since: Instant,
    pub(crate) next_tick: Option<Instant>,
    pub(crate) reply: ReplyTo<C::Response>,
}

/// What ending an exchange needs of it, taken out so the exchange (and its consumer)
/// can be dropped where it lies.
pub(crate) struct End<Resp> {
    pub(crate) started: bool,
    /// The consumer set a lifetime (timers): the driver must recompute its deadline.
    pub(crate) had_timers: bool,
    pub(crate) reply: ReplyTo<Resp>,
}

impl<C: ProtocolConsumer> Exchange<C> {
    /// Takes what [`End`] needs; the exchange is left with nobody to reply to.
    pub(crate) fn take_end(&mut self) -> End<C::Response> {
        End {
            started: self.started,
            had_timers: self.lifetime != Lifetime::default(),
            reply: std::mem::replace(&mut self.reply, ReplyTo::Server),
        }
    }

    pub(crate) fn new(consumer: Current<C>, reply: ReplyTo<C::Response>, now: Instant) -> Self {
        Exchange {
            consumer,
            lifetime: Lifetime::default(),
            started: false,
            consumed: 0,
            since: now,
            next_tick: None,
            reply,
        }
    }

    /// Whether the request timeout applies: a short exchange that started.
    pub(crate) fn is_timed(&self) -> bool {
        self.started && !self.lifetime.long_lived
    }

    /// Re-arms the tick after the consumer changed its lifetime.
    pub(crate) fn rearm_tick(&mut self, now: Instant) {
        self.next_tick = self.lifetime.tick.map(|every| now + every);
    }
}
