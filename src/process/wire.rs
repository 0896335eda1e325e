//! The wire protocol between a pool and its workers: the handshake and the frames.
//!
//! ```text
//! worker → parent   MAGIC (8 bytes) PROTOCOL (u32 LE)        once, first
//! every frame       len: u32 LE | kind: u8 | body (len - 1 bytes)
//! worker → parent   HELLO  body: postcard(Hello)
//! parent → worker   SETUP  body: initializer job index (u32 LE) or nothing
//! worker → parent   READY  body: status u8 | message (UTF-8, for a failed initializer)
//! parent → worker   CALL   body: job index (u32 LE) | time left (u64 LE, µs)
//!                          | [trace context, 25 bytes, if bit 31 of the index is set] | postcard(args)
//! worker → parent   PROGRESS body: call ordinal (u64 LE) | done (u64 LE) | total (u64 LE)
//! worker → parent   LOG    body: call ordinal (u64 LE) | postcard(LogRecord)   feature tracing
//! worker → parent   DONE   body: status u8 | postcard(output), or a UTF-8 message
//! parent → worker   CANCEL body: the call's ordinal at this worker (u64 LE)   control socket
//! ```
//!
//! Arguments and outputs are postcard-encoded straight into the frame (no second envelope). The
//! parent closes its end to retire a worker; the worker exits on end-of-file.
//!
//! `CANCEL` travels on a second socket, the *control* socket, whose worker end the parent hands
//! over with `SETUP` (`SCM_RIGHTS`): the worker's main thread runs a job and reads its calls only
//! between jobs, while its watch thread reads the control socket at any time. The time left is
//! relative (no clock is shared); `u64::MAX` means no deadline.

use std::io::{self, Read};
use std::time::Duration;

use crate::seam::call::EncodedCall;

use serde::{Deserialize, Serialize};

/// The environment variable that marks a process started as a worker. Its value is
/// `{PROTOCOL}:{parent pid}`: a grandchild that inherits the variable has another parent and is
/// not a worker.
pub(crate) const ENV_MARKER: &str = "POOLBRIDGE_WORKER";

/// The first bytes a worker writes: a program that is not a poolbridge worker (or that never
/// reached `init()`) does not write them.
pub(crate) const MAGIC: [u8; 8] = *b"PLBRDG\x00\x01";

/// Bumped whenever a frame's layout or meaning changes.
pub(crate) const PROTOCOL: u32 = 5;

/// The poolbridge build a worker runs: two processes with different values do not talk.
pub(crate) fn build_id() -> String {
    format!(
        "poolbridge {} ({}-{}, {}-bit)",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        usize::BITS
    )
}

/// Frames longer than this are refused (a corrupt length must not allocate gigabytes).
pub(crate) const MAX_FRAME: usize = u32::MAX as usize;

pub(crate) const HELLO: u8 = 1;
pub(crate) const SETUP: u8 = 2;
pub(crate) const READY: u8 = 3;
pub(crate) const CALL: u8 = 4;
pub(crate) const DONE: u8 = 5;
/// On the control socket: stop call number `n` of this worker (counted from 1, in the order the
/// worker received its calls): make its `cancelled()` true if it runs, skip it if it has not
/// started.
pub(crate) const CANCEL: u8 = 6;

/// Worker to parent, before the call's `DONE`: the running call's latest
/// `poolbridge::progress()` (coalesced: at most every [`PROGRESS_EVERY`], and the last value
/// right before `DONE`).
pub(crate) const PROGRESS: u8 = 7;

/// How often a worker sends a running call's progress at most.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(10);

/// Bytes of a `PROGRESS` frame: length, kind, ordinal, done, total.
pub(crate) const PROGRESS_FRAME: usize = 4 + 1 + 8 + 8 + 8;

/// The `PROGRESS` frame of call number `nth` of a worker.
pub(crate) fn progress_frame(nth: u64, done: u64, total: u64) -> [u8; PROGRESS_FRAME] {
    let mut frame = [0u8; PROGRESS_FRAME];
    frame[..4].copy_from_slice(&((PROGRESS_FRAME - 4) as u32).to_le_bytes());
    frame[4] = PROGRESS;
    frame[5..13].copy_from_slice(&nth.to_le_bytes());
    frame[13..21].copy_from_slice(&done.to_le_bytes());
    frame[21..].copy_from_slice(&total.to_le_bytes());
    frame
}

/// The ordinal, done and total of a `PROGRESS` frame's body; `None` if it is malformed.
pub(crate) fn split_progress(body: &[u8]) -> Option<(u64, u64, u64)> {
    let word = |i: usize| Some(u64::from_le_bytes(body.get(i..i + 8)?.try_into().ok()?));
    if body.len() != PROGRESS_FRAME - 5 {
        return None;
    }
    Some((word(0)?, word(8)?, word(16)?))
}

/// Worker to parent, before the call's `DONE` (feature `tracing`): one event the running call
/// logged, or how many it dropped (`trace::relay::LogRecord`), re-emitted by the parent under
/// the job's span. Rate-bounded in the worker (`trace::forward::LOG_BURST`, `LOG_RATE`).
#[cfg(feature = "tracing")]
pub(crate) const LOG: u8 = 8;

/// Appends the `LOG` frame of call `nth` carrying `record` to `out` (cleared).
#[cfg(feature = "tracing")]
pub(crate) fn log_frame(
    nth: u64,
    record: &crate::trace::relay::LogRecord,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    start_frame(out, LOG);
    out.extend_from_slice(&nth.to_le_bytes());
    encode_into(record, out).map_err(|err| err.to_string())?;
    finish_frame(out)
}

/// The ordinal and record of a `LOG` frame's body; `None` if it is malformed.
#[cfg(feature = "tracing")]
pub(crate) fn split_log(body: &[u8]) -> Option<(u64, crate::trace::relay::LogRecord)> {
    let (nth, record) = body.split_at_checked(8)?;
    let nth = u64::from_le_bytes(nth.try_into().ok()?);
    Some((nth, postcard::from_bytes(record).ok()?))
}

/// `READY` / `DONE` status byte.
pub(crate) const OK: u8 = 0;
/// The job or initializer panicked; the body is the panic message.
pub(crate) const PANICKED: u8 = 1;
/// The call could not be run or answered (no such job, a frame too large); the body is the
/// message.
pub(crate) const IPC: u8 = 2;
/// The arguments could not be deserialized or the output serialized; the body is the side
/// byte, then serde's message (`seam::call::codec_body`).
pub(crate) const CODEC: u8 = 3;
/// The job saw `cancelled()` (a `CANCEL` reached it) and returned: its output is dropped.
pub(crate) const STOPPED: u8 = 4;
/// The call was not run: a `CANCEL` came first, or its deadline had passed when the worker
/// reached it. The body is [`SKIP_CANCELLED`] or [`SKIP_DEADLINE`].
pub(crate) const SKIPPED: u8 = 5;
/// [`SKIPPED`] because of a `CANCEL`.
pub(crate) const SKIP_CANCELLED: u8 = 0;
/// [`SKIPPED`] because the call's deadline had passed.
pub(crate) const SKIP_DEADLINE: u8 = 1;

/// The time-left field of a call without a deadline.
const NO_DEADLINE: u64 = u64::MAX;

/// Bytes of a `CANCEL` frame: length, kind, ordinal.
pub(crate) const CANCEL_FRAME: usize = 4 + 1 + 8;

/// The `CANCEL` frame for call number `nth` of a worker.
pub(crate) fn cancel_frame(nth: u64) -> [u8; CANCEL_FRAME] {
    let mut frame = [0u8; CANCEL_FRAME];
    frame[..4].copy_from_slice(&((CANCEL_FRAME - 4) as u32).to_le_bytes());
    frame[4] = CANCEL;
    frame[5..].copy_from_slice(&nth.to_le_bytes());
    frame
}

/// The ordinal of a `CANCEL` frame read by a worker; `None` for another frame.
pub(crate) fn split_cancel(frame: &Frame<'_>) -> Option<u64> {
    if frame.kind != CANCEL {
        return None;
    }
    Some(u64::from_le_bytes(frame.body.try_into().ok()?))
}

/// The worker's introduction, after `MAGIC` and `PROTOCOL`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) build_id: String,
    pub(crate) pid: u32,
    pub(crate) fingerprint: u64,
    /// `name#signature-hash` of every registered job, for a mismatch message.
    pub(crate) jobs: Vec<String>,
}

/// Starts a frame of `kind` in `buf` (cleared). Finish it with [`finish_frame`].
pub(crate) fn start_frame(buf: &mut Vec<u8>, kind: u8) {
    buf.clear();
    buf.extend_from_slice(&[0, 0, 0, 0, kind]);
}

/// Writes the length of the frame started in `buf` by [`start_frame`].
pub(crate) fn finish_frame(buf: &mut [u8]) -> Result<(), String> {
    let len = buf.len() - 4;
    let len = u32::try_from(len)
        .map_err(|_| format!("a frame of {len} bytes is larger than the 4 GiB limit"))?;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Bytes of a `CALL` frame before the arguments: length, kind, job index, time left. A call is
/// encoded with this much room in front ([`crate::seam::call::encode_call`]), filled by
/// [`seal_call`] (no deadline) and [`set_time_left`] (when the call is dispatched).
pub(crate) const CALL_HEADER: usize = 4 + 1 + 4 + 8;

/// Where the time left is in a `CALL` frame.
const TIME_LEFT: std::ops::Range<usize> = 9..17;

/// Bit 31 of a `CALL` frame's job index: a trace context ([`TRACE_LEN`] bytes) follows the time
/// left. A flag rather than a field: a build without the `tracing` feature sends not one byte
/// more.
const TRACED: u32 = 1 << 31;

/// Bytes of a trace context in a `CALL` frame (`TraceContext`'s wire form: trace id, span id,
/// flags).
pub(crate) const TRACE_LEN: usize = 25;

#[cfg(feature = "tracing")]
const _: () = assert!(TRACE_LEN == crate::trace::WIRE_LEN);

/// Bytes of a traced `CALL` frame before the arguments: [`CALL_HEADER`], then the context.
#[cfg(feature = "tracing")]
pub(crate) const TRACED_CALL_HEADER: usize = CALL_HEADER + TRACE_LEN;

/// Writes the time the call has left before its deadline into its sealed `CALL` frame, in
/// microseconds (a deadline already passed is 0, and the worker skips the call).
pub(crate) fn set_time_left(frame: &mut [u8], left: Duration) {
    let micros = u64::try_from(left.as_micros()).unwrap_or(NO_DEADLINE - 1);
    frame[TIME_LEFT].copy_from_slice(&micros.min(NO_DEADLINE - 1).to_le_bytes());
}

/// Turns an encoded call (with [`CALL_HEADER`] bytes of room in front) into its `CALL` frame,
/// in place: the one encoding of a `CALL` frame, for every call (typed, or arrived encoded at a
/// remote host); [`split_call`] is the worker's end. `Err`: the frame is too large.
#[cfg_attr(all(feature = "tracing", not(feature = "nats")), allow(dead_code))]
pub(crate) fn seal_call(call: EncodedCall) -> Result<Vec<u8>, String> {
    seal(call, None)
}

/// [`seal_call`] for a call encoded with [`TRACED_CALL_HEADER`] bytes of room: the frame carries
/// `trace` (a `TraceContext`'s wire form) after the time left.
#[cfg(feature = "tracing")]
pub(crate) fn seal_traced_call(
    call: EncodedCall,
    trace: &[u8; TRACE_LEN],
) -> Result<Vec<u8>, String> {
    seal(call, Some(trace))
}

fn seal(call: EncodedCall, trace: Option<&[u8; TRACE_LEN]>) -> Result<Vec<u8>, String> {
    let mut frame = call.bytes;
    let mut index = call.index;
    match trace {
        None => debug_assert_eq!(call.room, CALL_HEADER),
        Some(trace) => {
            debug_assert_eq!(call.room, CALL_HEADER + TRACE_LEN);
            frame[CALL_HEADER..CALL_HEADER + TRACE_LEN].copy_from_slice(trace);
            index |= TRACED;
        }
    }
    frame[4] = CALL;
    frame[5..9].copy_from_slice(&index.to_le_bytes());
    frame[TIME_LEFT].copy_from_slice(&NO_DEADLINE.to_le_bytes());
    finish_frame(&mut frame).map_err(|reason| {
        format!(
            "the arguments of job `{}` are too large: {reason}",
            call.name
        )
    })?;
    Ok(frame)
}

/// A `CALL` frame read by a worker: job index, time left before its deadline (`None`: no
/// deadline) and encoded arguments.
pub(crate) struct CallBody<'a> {
    pub(crate) index: u32,
    pub(crate) time_left: Option<Duration>,
    /// The trace context's wire form ([`TRACE_LEN`] bytes), if the call carries one.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) trace: Option<&'a [u8]>,
    pub(crate) args: &'a [u8],
}

/// The body of a `CALL` frame read by a worker; `None` if the frame is of another kind or too
/// short.
pub(crate) fn split_call<'a>(frame: &Frame<'a>) -> Option<CallBody<'a>> {
    if frame.kind != CALL || frame.body.len() < CALL_HEADER - 5 {
        return None;
    }
    let (index, rest) = frame.body.split_at(4);
    let (left, args) = rest.split_at(8);
    let left = u64::from_le_bytes(left.try_into().ok()?);
    let index = u32::from_le_bytes(index.try_into().ok()?);
    let (trace, args) = if index & TRACED == 0 {
        (None, args)
    } else {
        let (trace, args) = args.split_at_checked(TRACE_LEN)?;
        (Some(trace), args)
    };
    Some(CallBody {
        index: index & !TRACED,
        time_left: (left != NO_DEADLINE).then(|| Duration::from_micros(left)),
        trace,
        args,
    })
}

/// Appends `value`, postcard-encoded, to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    postcard::to_io(value, &mut *out).map(drop)
}

/// A frame read by [`FrameReader`]: its kind and body.
pub(crate) struct Frame<'a> {
    pub(crate) kind: u8,
    pub(crate) body: &'a [u8],
}

/// Reads frames from a stream, reusing one buffer; usually one `read` call per frame.
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    /// Bytes `start..end` of `buf` are read and not consumed.
    start: usize,
    end: usize,
    /// Where the body of the last frame read is in `buf` (after its kind byte).
    last: (usize, usize),
}

/// How much a read asks for when the frame's size is not known yet.
const READ_CHUNK: usize = 16 * 1024;

impl FrameReader {
    pub(crate) fn new() -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            last: (0, 0),
        }
    }

    /// Reads exactly `n` raw bytes (the handshake's `MAGIC` and `PROTOCOL`).
    pub(crate) fn read_raw(&mut self, src: &mut impl Read, n: usize) -> io::Result<&[u8]> {
        self.fill(src, n)?;
        let start = self.start;
        self.start += n;
        Ok(&self.buf[start..start + n])
    }

    /// Reads the next frame. End of file before a whole frame is `UnexpectedEof`.
    pub(crate) fn read(&mut self, src: &mut impl Read) -> io::Result<Frame<'_>> {
        self.fill(src, 4)?;
        let len_bytes: [u8; 4] = self.buf[self.start..self.start + 4]
            .try_into()
            .expect("four bytes");
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid frame length {len}"),
            ));
        }
        self.fill(src, 4 + len)?;
        let start = self.start + 4;
        self.start += 4 + len;
        self.last = (start + 1, start + len);
        Ok(Frame {
            kind: self.buf[start],
            body: &self.buf[start + 1..start + len],
        })
    }

    /// The body of the frame [`read`](Self::read) returned last (valid until the next read).
    pub(crate) fn last_body(&self) -> &[u8] {
        &self.buf[self.last.0..self.last.1]
    }

    /// Makes sure `n` unconsumed bytes are buffered.
    fn fill(&mut self, src: &mut impl Read, n: usize) -> io::Result<()> {
        if self.end - self.start >= n {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = n.max(READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        } else if self.buf.len() > 4 * READ_CHUNK && n <= READ_CHUNK && self.end <= READ_CHUNK {
            // A large frame came and went: give the memory back.
            self.buf.truncate(READ_CHUNK);
            self.buf.shrink_to_fit();
        }
        while self.end < n {
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => self.end += k,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_reader() {
        let mut wire = Vec::new();
        for i in 0..3u32 {
            let args = postcard::to_allocvec(&(String::from("abc"), i)).unwrap();
            let call = EncodedCall::from_encoded("abc", i, &args, CALL_HEADER);
            let frame = seal_call(call).unwrap();
            wire.extend_from_slice(&frame);
        }
        let mut src = &wire[..];
        let mut reader = FrameReader::new();
        for i in 0..3u32 {
            let frame = reader.read(&mut src).unwrap();
            assert_eq!(frame.kind, CALL);
            let call = split_call(&frame).unwrap();
            assert_eq!(call.index, i);
            assert_eq!(call.time_left, None);
            let args: (String, u32) = postcard::from_bytes(call.args).unwrap();
            assert_eq!(args, (String::from("abc"), i));
        }
        let eof = reader.read(&mut src).err().unwrap();
        assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn time_left_and_cancel_frames_round_trip() {
        let args = postcard::to_allocvec(&(7u8,)).unwrap();
        let call = EncodedCall::from_encoded("abc", 3, &args, CALL_HEADER);
        let mut frame = seal_call(call).unwrap();
        set_time_left(&mut frame, Duration::from_millis(1500));
        frame.extend_from_slice(&cancel_frame(42));
        let mut src = &frame[..];
        let mut reader = FrameReader::new();
        let read = reader.read(&mut src).unwrap();
        let call = split_call(&read).unwrap();
        assert_eq!(call.time_left, Some(Duration::from_millis(1500)));
        assert_eq!(postcard::from_bytes::<(u8,)>(call.args).unwrap(), (7,));
        let read = reader.read(&mut src).unwrap();
        assert_eq!(split_cancel(&read), Some(42));
    }

    #[test]
    fn progress_frames_round_trip() {
        let wire = progress_frame(3, 7, u64::MAX);
        let mut src = &wire[..];
        let mut reader = FrameReader::new();
        let frame = reader.read(&mut src).unwrap();
        assert_eq!(frame.kind, PROGRESS);
        assert_eq!(split_progress(frame.body), Some((3, 7, u64::MAX)));
        assert_eq!(split_progress(&frame.body[1..]), None);
    }

    #[test]
    fn a_trace_context_rides_in_a_flag_bit() {
        let args = postcard::to_allocvec(&(7u8,)).unwrap();
        let plain = seal_call(EncodedCall::from_encoded("abc", 3, &args, CALL_HEADER)).unwrap();
        let mut src = &plain[..];
        let mut reader = FrameReader::new();
        let call = split_call(&reader.read(&mut src).unwrap()).map(|c| (c.index, c.trace));
        assert_eq!(call, Some((3, None)));
        #[cfg(feature = "tracing")]
        {
            let ctx = crate::trace::TraceContext::new(5, 6, true).unwrap();
            let room = TRACED_CALL_HEADER;
            let call = EncodedCall::from_encoded("abc", 3, &args, room);
            let traced = seal_traced_call(call, &ctx.to_bytes()).unwrap();
            assert_eq!(traced.len(), plain.len() + TRACE_LEN);
            let mut src = &traced[..];
            let frame = reader.read(&mut src).unwrap();
            let call = split_call(&frame).unwrap();
            assert_eq!(call.index, 3);
            let got = call.trace.and_then(crate::trace::TraceContext::from_bytes);
            assert_eq!(got, Some(ctx));
            assert_eq!(postcard::from_bytes::<(u8,)>(call.args).unwrap(), (7,));
        }
    }

    #[test]
    fn a_zero_length_frame_is_refused() {
        let mut src = &[0u8, 0, 0, 0][..];
        let err = FrameReader::new().read(&mut src).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
