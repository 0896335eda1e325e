//! A call crossing a boundary, both ways: [`encode_call`] is the only encoder of a call (job
//! name, registry index, type fingerprint, arguments) for every transport, and
//! [`decode_output`] / [`complete`] the only way back, with one set of messages.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CodecError, CodecSide, FutureError};
use crate::future::{Promise, RunHooks};
use crate::seam::job::{Job, Registry};
use crate::unwind;

/// Which transport a call crosses: it words the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// A worker process of a `ProcessPoolExecutor`.
    Process,
    /// A host of a `RemoteExecutor`, through NATS.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Remote,
}

impl Via {
    /// How a message names such a job.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Via::Process => "job",
            Via::Remote => "remote job",
        }
    }

    /// What to check when an output cannot be decoded (ends a message).
    fn decode_hint(self) -> &'static str {
        match self {
            Via::Process => "",
            Via::Remote => " (do the client and the hosts run the same build?)",
        }
    }
}

/// A call of a registered job, encoded for a transport: `bytes[room..]` are the arguments
/// (postcard); the first `room` bytes are the transport's own header, left for it to fill
/// (the process pool writes its frame header there: the arguments are never copied).
#[derive(Debug)]
pub(crate) struct EncodedCall {
    pub(crate) name: &'static str,
    /// The job's index in the registry (the same in every process of one build).
    pub(crate) index: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) room: usize,
}

impl EncodedCall {
    /// A call whose arguments arrived encoded (a remote host runs a client's call in its
    /// process pool): copied behind `room` bytes.
    #[cfg_attr(not(any(feature = "nats", test)), allow(dead_code))]
    pub(crate) fn from_encoded(
        name: &'static str,
        index: u32,
        args: &[u8],
        room: usize,
    ) -> EncodedCall {
        let mut bytes = Vec::with_capacity(room + args.len());
        bytes.resize(room, 0);
        bytes.extend_from_slice(args);
        EncodedCall {
            name,
            index,
            bytes,
            room,
        }
    }

    /// The arguments alone, without the room in front.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn into_args(mut self) -> Vec<u8> {
        self.bytes.drain(..self.room);
        self.bytes
    }
}

/// Encodes a call of `job` with `args`, leaving `room` bytes in front for the transport's
/// header. Fails with the error its future gets: the job is not in `registry`, or the
/// arguments' `Serialize` impl failed (or panicked).
pub(crate) fn encode_call<J: Job>(
    registry: &Registry,
    job: &J,
    args: &J::Args,
    room: usize,
) -> Result<EncodedCall, FutureError> {
    let name = job.name();
    let Some(index) = registry.index(name) else {
        return Err(not_registered(name));
    };
    let mut bytes = Vec::with_capacity(room + 64);
    bytes.resize(room, 0);
    if let Err(err) = encode_args(args, &mut bytes) {
        return Err(unencodable_args(name, &err));
    }
    Ok(EncodedCall {
        name,
        index,
        bytes,
        room,
    })
}

/// Appends a job's arguments, postcard-encoded, to `out`. Fails with the reason, also when the
/// arguments' own `Serialize` impl panics; `out` may then hold part of an encoding.
fn encode_args<A: Serialize>(args: &A, out: &mut Vec<u8>) -> Result<(), String> {
    match unwind::catch(|| postcard::to_io(args, &mut *out).map(drop)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(format!("its Serialize impl panicked: {}", panic.message())),
    }
}

/// Decodes the output of job `name` that crossed `via` (user `Deserialize` code: a panic in it
/// is caught).
pub(crate) fn decode_output<O: DeserializeOwned>(
    bytes: &[u8],
    name: &str,
    via: Via,
) -> Result<O, FutureError> {
    let (what, hint) = (via.what(), via.decode_hint());
    match unwind::catch(|| postcard::from_bytes::<O>(bytes)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(FutureError::Codec(CodecError::output_undecodable(
            what,
            name,
            err.to_string(),
            hint,
        ))),
        Err(panic) => Err(FutureError::Codec(CodecError::output_undecodable(
            what,
            name,
            format!("its Deserialize impl panicked: {}", panic.message()),
            "",
        ))),
    }
}

/// Completes a job's future with its decoded outcome. A future cancelled meanwhile hands the
/// outcome back: it is dropped here, under a guard (its `Drop` is user code), and a panic in it
/// is reported.
pub(crate) fn complete<O: Send + 'static>(
    promise: Promise<O>,
    outcome: Result<O, FutureError>,
    hooks: &mut dyn RunHooks,
    via: Via,
) {
    if let Err(unused) = promise.complete_with(outcome, hooks) {
        if let Err(err) = unwind::catch(move || drop(unused)) {
            let what = match via {
                Via::Process => "process job",
                Via::Remote => "remote job",
            };
            unwind::report(&format!("dropping the output of a cancelled {what}"), &err);
        }
    }
}

/// The error of a submit whose job is not in this process's registry (every transport says
/// the same).
pub(crate) fn not_registered(name: &str) -> FutureError {
    FutureError::NotRegistered {
        job: name.to_owned(),
    }
}

/// The error of a submit whose arguments could not be encoded (`err`: the reason).
fn unencodable_args(name: &str, err: &str) -> FutureError {
    FutureError::Codec(CodecError::arguments_unencodable(name, err.to_owned()))
}

/// The first byte of the body of a codec failure answered by a worker (or relayed by a remote
/// host): the arguments failed.
pub(crate) const CODEC_ARGUMENTS: u8 = 0;
/// The first byte of the body of a codec failure: the output failed.
pub(crate) const CODEC_OUTPUT: u8 = 1;

/// The error of an answer that reports a codec failure in the worker for job `name`: `body` is
/// the side byte, then serde's message (what [`codec_body`] writes).
pub(crate) fn worker_codec_error(name: &str, body: &[u8]) -> FutureError {
    let side = match body.first() {
        Some(&CODEC_ARGUMENTS) => CodecSide::Arguments,
        _ => CodecSide::Output,
    };
    let message = String::from_utf8_lossy(body.get(1..).unwrap_or_default()).into_owned();
    FutureError::Codec(CodecError::in_worker(name, side, message))
}

/// The body of a codec-failure answer for `codec`: what [`worker_codec_error`] reads back.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) fn codec_body(codec: &CodecError) -> Vec<u8> {
    let side = match codec.side() {
        CodecSide::Arguments => CODEC_ARGUMENTS,
        _ => CODEC_OUTPUT,
    };
    let mut body = Vec::with_capacity(1 + codec.message().len());
    body.push(side);
    body.extend_from_slice(codec.message().as_bytes());
    body
}
