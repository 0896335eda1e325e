//! W3C trace context for the jobs that cross a boundary (a worker process, a remote host):
//! [`TraceContext`], the ids poolbridge makes itself, and the context of the job this thread
//! runs.
//!
//! The ids are poolbridge's own (no OpenTelemetry): a trace id is inherited from the job the
//! submitting thread runs (a process or remote job that received a context), or made fresh; every
//! job span gets a fresh span id. Fresh ids come from a per-thread splitmix64 sequence seeded by
//! [`RandomState`] (its keys are random per process and advance per instance) hashing the time,
//! a process-wide counter and the pid: unique enough for correlating spans, not meant for
//! cryptography, and no new dependency.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The trace a job belongs to, and the span it runs under: the fields of a W3C `traceparent`
/// (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`).
///
/// With the `tracing` feature, a process or remote job carries one from its submitter to the
/// process that runs it (the process pool's `CALL` frame, the `traceparent` header of a remote
/// job's NATS message), and code running as such a job sees it through
/// [`TraceContext::current`]: the jobs it submits in turn continue the same trace.
///
/// ```
/// use poolbridge::TraceContext;
///
/// let ctx = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(ctx.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
/// assert_eq!(ctx.span_id(), 0x00f067aa0ba902b7);
/// assert!(ctx.sampled());
/// assert_eq!(ctx.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// // Outside a process or remote job there is none.
/// assert_eq!(TraceContext::current(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

/// Bytes of a trace context on the wire (the process pool's `CALL` frame): trace id (16, big
/// endian, as in its hex form), span id (8, big endian), flags (1; bit 0: sampled).
pub(crate) const WIRE_LEN: usize = 16 + 8 + 1;

/// The NATS header of a remote job that carries its trace context, in the W3C form.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) const TRACEPARENT: &str = "traceparent";

impl TraceContext {
    /// A context with these ids; `None` if either is zero (invalid in W3C trace context).
    ///
    /// ```
    /// use poolbridge::TraceContext;
    ///
    /// let ctx = TraceContext::new(0x4bf9, 0x00f0, true).unwrap();
    /// assert_eq!(ctx.to_string(), "00-00000000000000000000000000004bf9-00000000000000f0-01");
    /// assert_eq!(TraceContext::new(0, 1, true), None);
    /// ```
    pub fn new(trace_id: u128, span_id: u64, sampled: bool) -> Option<TraceContext> {
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The 128-bit trace id: the same for every span of one trace.
    ///
    /// ```
    /// let ctx = poolbridge::TraceContext::new(7, 9, false).unwrap();
    /// assert_eq!(ctx.trace_id(), 7);
    /// ```
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The 64-bit id of the span this context names (the parent of whatever runs under it).
    ///
    /// ```
    /// let ctx = poolbridge::TraceContext::new(7, 9, false).unwrap();
    /// assert_eq!(ctx.span_id(), 9);
    /// ```
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// The W3C `sampled` flag: the trace is being recorded upstream.
    ///
    /// ```
    /// let ctx = poolbridge::TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    /// assert!(!ctx.unwrap().sampled());
    /// ```
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// Reads a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`). Version `00` is read
    /// exactly; a later version is read by its first four fields, as the W3C spec asks. `None`
    /// if it is malformed or an id is zero.
    ///
    /// ```
    /// use poolbridge::TraceContext;
    ///
    /// assert!(TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_some());
    /// // A later version with more fields is read by its first four.
    /// assert!(TraceContext::parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xyz").is_some());
    /// assert_eq!(TraceContext::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01"), None);
    /// assert_eq!(TraceContext::parse("not a traceparent"), None);
    /// ```
    pub fn parse(traceparent: &str) -> Option<TraceContext> {
        let text = traceparent.trim();
        let mut parts = text.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) {
            return None;
        }
        if !hex(flags, 2) || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        TraceContext::new(
            u128::from_str_radix(trace, 16).ok()?,
            u64::from_str_radix(span, 16).ok()?,
            flags & 1 == 1,
        )
    }

    /// The context of the process or remote job this thread runs (the one its worker or host
    /// received), if any: what a job submitted from here continues. `None` elsewhere.
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn traced() -> Option<String> {
    ///     // Inside a process job: the context its worker received from the submitter.
    ///     poolbridge::TraceContext::current().map(|ctx| ctx.to_string())
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(1);
    ///     assert!(pool.submit(traced, ()).result().unwrap().is_some());
    ///     assert_eq!(poolbridge::TraceContext::current(), None); // not inside a job
    /// }
    /// ```
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(Cell::get).ok().flatten()
    }

    /// A fresh trace, sampled.
    pub(crate) fn root() -> TraceContext {
        let high = u128::from(random_nonzero());
        let low = u128::from(random_nonzero());
        TraceContext {
            trace_id: (high << 64) | low,
            span_id: random_nonzero(),
            sampled: true,
        }
    }

    /// A new span of the same trace.
    pub(crate) fn child(&self) -> TraceContext {
        TraceContext {
            span_id: random_nonzero(),
            ..*self
        }
    }

    /// The wire form ([`WIRE_LEN`] bytes).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn to_bytes(self) -> [u8; WIRE_LEN] {
        let mut out = [0u8; WIRE_LEN];
        out[..16].copy_from_slice(&self.trace_id.to_be_bytes());
        out[16..24].copy_from_slice(&self.span_id.to_be_bytes());
        out[24] = u8::from(self.sampled);
        out
    }

    /// Reads the wire form; `None` if it is short or an id is zero.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<TraceContext> {
        let bytes: &[u8; WIRE_LEN] = bytes.get(..WIRE_LEN)?.try_into().ok()?;
        TraceContext::new(
            u128::from_be_bytes(bytes[..16].try_into().ok()?),
            u64::from_be_bytes(bytes[16..24].try_into().ok()?),
            bytes[24] & 1 == 1,
        )
    }
}

/// The W3C `traceparent` form, version `00`.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

thread_local! {
    /// The context of the process or remote job this thread runs.
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// Makes `ctx` this thread's [`TraceContext::current`] until the guard is dropped (then the
/// previous one is back).
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) fn enter(ctx: TraceContext) -> Entered {
    let previous = CURRENT.try_with(|c| c.replace(Some(ctx))).ok().flatten();
    Entered { previous }
}

/// Restores the thread's previous trace context when dropped.
pub(crate) struct Entered {
    previous: Option<TraceContext>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous));
    }
}

/// A random, nonzero `u64` (see the module's note on where it comes from): a per-thread
/// splitmix64 sequence, seeded once per thread by [`RandomState`] hashing the time, a
/// process-wide counter and the process id. A few nanoseconds per id.
fn random_nonzero() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    loop {
        let value = STATE
            .try_with(|state| {
                let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
                state.set(next);
                next
            })
            .unwrap_or_else(|_| seed());
        // splitmix64's output function.
        let mut z = value;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    }
}

/// A fresh seed: [`RandomState`]'s random keys hashing the time, a counter and the pid.
fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    // ORDERING: Relaxed: only uniqueness matters.
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let ctx = TraceContext::root();
        assert_eq!(TraceContext::parse(&ctx.to_string()), Some(ctx));
        assert_eq!(TraceContext::from_bytes(&ctx.to_bytes()), Some(ctx));
        let child = ctx.child();
        assert_eq!(child.trace_id(), ctx.trace_id());
        assert_ne!(child.span_id(), ctx.span_id());
        assert_eq!(
            TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(TraceContext::parse("00-4bf9-00f067aa0ba902b7-01"), None);
        assert_eq!(
            TraceContext::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
    }

    #[test]
    fn entering_sets_and_restores_the_current_context() {
        assert_eq!(TraceContext::current(), None);
        let ctx = TraceContext::root();
        {
            let _entered = enter(ctx);
            assert_eq!(TraceContext::current(), Some(ctx));
        }
        assert_eq!(TraceContext::current(), None);
    }
}
