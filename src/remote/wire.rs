//! The messages of the remote executor: subjects, headers and bodies. `README.md` beside this
//! file has them in one table.
//!
//! A job is a JetStream message on the jobs subject; its metadata are headers (readable with
//! `nats stream view`), its body the postcard-encoded arguments, as in a process pool's `CALL`
//! frame. Hosts answer on the client's reply subject with core NATS messages: a `started`
//! notice, then one outcome.

use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::error::WorkerExit;

/// Bumped whenever a header's meaning or a body's layout changes.
pub(crate) const PROTOCOL: &str = "4";

/// JetStream's deduplication header: the job id.
pub(crate) const MSG_ID: &str = "Nats-Msg-Id";
pub(crate) const H_PROTOCOL: &str = "Poolbridge-Protocol";
pub(crate) const H_JOB: &str = "Poolbridge-Job";
pub(crate) const H_SIGNATURE: &str = "Poolbridge-Signature";
pub(crate) const H_REPLY: &str = "Poolbridge-Reply";
pub(crate) const H_MAX_DELIVER: &str = "Poolbridge-Max-Deliver";
pub(crate) const H_TIMEOUT_MS: &str = "Poolbridge-Timeout-Ms";
/// On a job: the time left until its deadline (ms) when it was published. Relative, so that
/// clocks need not agree; the host subtracts the time the job waited in the stream
/// ([`remaining`]).
pub(crate) const H_DEADLINE_MS: &str = "Poolbridge-Deadline-Ms";
pub(crate) const H_JOB_ID: &str = "Poolbridge-Job-Id";
pub(crate) const H_STATUS: &str = "Poolbridge-Status";
pub(crate) const H_HOST: &str = "Poolbridge-Host";
pub(crate) const H_PID: &str = "Poolbridge-Pid";
pub(crate) const H_ATTEMPT: &str = "Poolbridge-Attempt";
/// On a job: `1` when its host must also store the answer in the answers bucket.
pub(crate) const H_KEEP: &str = "Poolbridge-Keep";
/// On a job: its arguments are the object `{job id}.in` of the objects bucket (the body is
/// empty).
pub(crate) const H_ARGS_OBJECT: &str = "Poolbridge-Args-Object";
/// On a job: the largest output (bytes) its host may hand over through the objects bucket.
pub(crate) const H_OBJECT_LIMIT: &str = "Poolbridge-Object-Limit";
/// On an answer: its body is the object `{job id}.out` of the objects bucket.
pub(crate) const H_OBJECT: &str = "Poolbridge-Object";
/// On an answer: how long the host held the job in its local pool, from the `started` notice to
/// the local future's end (microseconds, the host's clock): the client's run-time sample.
pub(crate) const H_RUN_US: &str = "Poolbridge-Run-Us";

/// The body of a `progress` message: postcard `(done, total)`.
pub(crate) fn progress_body(done: u64, total: u64) -> Vec<u8> {
    postcard::to_stdvec(&(done, total)).unwrap_or_default()
}

/// `(done, total)` of a `progress` message's body; `None` if it is malformed.
pub(crate) fn split_progress(body: &[u8]) -> Option<(u64, u64)> {
    postcard::from_bytes(body).ok()
}

/// A host's status, as published every `ServeOptions::status_interval` on
/// `{prefix}.status.{host token}` (postcard; `Poolbridge-Protocol` header): what
/// `RemoteMetrics::hosts` shows. Durations in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostStatusBody {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) slots: u64,
    pub(crate) workers: u64,
    pub(crate) running: u64,
    pub(crate) queued: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) stopped: u64,
    pub(crate) redelivered: u64,
    pub(crate) uptime_us: u64,
    /// The interval of this host's statuses (a client calls it silent after 3).
    pub(crate) interval_us: u64,
    /// `(p50, p90, p99, max, samples)` of the local queue wait and run time.
    pub(crate) queue_wait: Option<(u64, u64, u64, u64, u64)>,
    pub(crate) run_time: Option<(u64, u64, u64, u64, u64)>,
    /// The last status of a host that stopped gracefully.
    pub(crate) gone: bool,
}

/// A subject token for a host name (`ServeOptions::name` may hold dots, spaces, wildcards):
/// letters, digits, `_` and `-` kept, anything else `_`. The name itself is in the body.
pub(crate) fn status_token(name: &str) -> String {
    let token: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

/// The object holding the arguments of job `id`.
pub(crate) fn args_object(id: &str) -> String {
    format!("{id}.in")
}

/// The object holding the output of job `id`.
pub(crate) fn output_object(id: &str) -> String {
    format!("{id}.out")
}

/// The names a client and its hosts agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Names {
    /// The work-queue stream.
    pub(crate) stream: String,
    /// The subject jobs are published on: `{prefix}.jobs`.
    pub(crate) jobs: String,
    /// Reply subjects are `{prefix}.results.{client id}`.
    pub(crate) results: String,
    /// The durable pull consumer every host pulls from.
    pub(crate) consumer: String,
    /// The KV bucket of cancelled job ids.
    pub(crate) cancelled: String,
    /// The KV bucket of kept answers (`RemoteBuilder::keep_answers`), keyed by job id.
    pub(crate) answers: String,
    /// The object store of large arguments and outputs (`RemoteBuilder::large_payloads`).
    pub(crate) objects: String,
    /// Host statuses are published on `{prefix}.status.{host token}`.
    pub(crate) status: String,
}

impl Names {
    pub(crate) fn new(stream: &str, prefix: &str) -> Names {
        Names {
            stream: stream.to_owned(),
            jobs: format!("{prefix}.jobs"),
            results: format!("{prefix}.results"),
            consumer: format!("{stream}_hosts"),
            cancelled: format!("{stream}_cancelled"),
            answers: format!("{stream}_answers"),
            objects: format!("{stream}_objects"),
            status: format!("{prefix}.status"),
        }
    }

    /// Checks the names a user chose, with a message that says what to change.
    pub(crate) fn check(stream: &str, prefix: &str) -> Result<(), String> {
        let stream_ok = !stream.is_empty()
            && stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !stream_ok {
            return Err(format!(
                "stream name {stream:?} is not usable: use letters, digits, '_' and '-' \
                 (it also names the consumer `{stream}_hosts` and the KV bucket \
                 `{stream}_cancelled`)"
            ));
        }
        let prefix_ok = !prefix.is_empty()
            && prefix.split('.').all(|token| {
                !token.is_empty()
                    && token
                        .chars()
                        .all(|c| !c.is_whitespace() && c != '*' && c != '>')
            });
        if !prefix_ok {
            return Err(format!(
                "subject prefix {prefix:?} is not usable: use dot-separated tokens without \
                 spaces or wildcards, like \"poolbridge\" or \"acme.batch\""
            ));
        }
        Ok(())
    }
}

/// Checks a job's reply subject before a host publishes anything to it: it must be
/// `{results}.{client id}`, one token of letters, digits, `_` and `-` under this executor's
/// results prefix. The reply subject comes from whoever published the job; without this check a
/// crafted job could make a host publish to any subject, such as the JetStream API
/// (`$JS.API.STREAM.DELETE.{stream}`).
pub(crate) fn check_reply(results: &str, reply: &str) -> Result<(), String> {
    let token = reply
        .strip_prefix(results)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|token| is_token(token));
    match token {
        Some(_) => Ok(()),
        None => Err(format!(
            "the reply subject {reply:?} is not under this host's results prefix `{results}.` \
             (one token of letters, digits, '_' and '-'): a job from a client with another \
             subject prefix, or a crafted message"
        )),
    }
}

/// One subject token as poolbridge makes them (client ids): letters, digits, `_` and `-`.
fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The prefix of the inboxes that async-nats gives requests (its default `_INBOX`): a host's
/// answer is a request, and its client confirms receipt on the inbox the answer names.
pub(crate) const INBOX_PREFIX: &str = "_INBOX.";

/// `true` when a client may publish its confirmation to `reply`, the reply subject of an
/// answer: an inbox (`_INBOX.` and tokens without wildcards). Anyone who can publish on a
/// client's results subject can set that reply subject; the client publishes nowhere else.
pub(crate) fn is_inbox(reply: &str) -> bool {
    reply.strip_prefix(INBOX_PREFIX).is_some_and(|rest| {
        rest.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '*' && c != '>')
        })
    })
}

/// What a host says about a job, on the client's reply subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// A host took the job and runs it now (body empty).
    Started,
    /// The job returned (body: postcard output).
    Ok,
    /// The job panicked (body: the message).
    Panicked,
    /// The job could not run or answer: other types, an unreadable or oversize message (body:
    /// the message).
    Ipc,
    /// The host does not register the job (body: the message).
    Unregistered,
    /// The job's arguments could not be deserialized, or its output serialized, in the host's
    /// worker process (body: `0` for the arguments or `1` for the output, then serde's message).
    Codec,
    /// The job's worker process died (body: postcard [`Exit`]).
    Died,
    /// The job ran past its time limit and was killed (body: postcard limit in ms, `u64`).
    Timeout,
    /// Its hosts were lost on every delivery allowed by `max_deliver` (body: postcard
    /// deliveries, `u32`).
    Exhausted,
    /// The job was stopped at its client's request (body empty): `Cancelled`.
    Stopped,
    /// The job's deadline passed (body: postcard `bool`, whether it had started):
    /// `DeadlineExceeded`.
    Deadline,
    /// The running job's latest `poolbridge::progress()` (body: postcard `(done, total)`): a
    /// core publish, at most one per `PROGRESS_EVERY` per job, the last one before the answer.
    Progress,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Ok => "ok",
            Status::Panicked => "panicked",
            Status::Ipc => "ipc",
            Status::Unregistered => "unregistered",
            Status::Codec => "codec",
            Status::Died => "died",
            Status::Timeout => "timeout",
            Status::Exhausted => "exhausted",
            Status::Stopped => "stopped",
            Status::Deadline => "deadline",
            Status::Progress => "progress",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "started" => Status::Started,
            "ok" => Status::Ok,
            "panicked" => Status::Panicked,
            "ipc" => Status::Ipc,
            "unregistered" => Status::Unregistered,
            "codec" => Status::Codec,
            "died" => Status::Died,
            "timeout" => Status::Timeout,
            "exhausted" => Status::Exhausted,
            "stopped" => Status::Stopped,
            "deadline" => Status::Deadline,
            "progress" => Status::Progress,
            _ => return None,
        })
    }
}

/// How a job's worker process ended on its host, as sent in a `died` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Exit {
    pub(crate) pid: u32,
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) core_dumped: bool,
}

impl Exit {
    pub(crate) fn of(exit: &WorkerExit) -> Exit {
        Exit {
            pid: exit.pid(),
            code: exit.code(),
            signal: exit.signal(),
            core_dumped: exit.core_dumped(),
        }
    }

    pub(crate) fn into_worker_exit(self) -> WorkerExit {
        WorkerExit::new(self.pid, self.code, self.signal, self.core_dumped)
    }
}

/// The metadata of a job message, as a host reads them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JobHeaders {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) signature: u64,
    pub(crate) reply: String,
    pub(crate) max_deliver: u32,
    pub(crate) timeout_ms: Option<u64>,
    /// The time left until the job's deadline when it was published (ms).
    pub(crate) deadline_ms: Option<u64>,
    /// Store the answer in the answers bucket too.
    pub(crate) keep: bool,
    /// The arguments are in the objects bucket (`args_object(id)`).
    pub(crate) args_object: bool,
    /// An output up to this size may go through the objects bucket.
    pub(crate) object_limit: Option<u64>,
}

impl JobHeaders {
    pub(crate) fn to_map(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID, self.id.as_str());
        // The id again under our own name: the server keeps `Nats-Msg-Id` for deduplication
        // only (recent servers do not deliver it).
        headers.insert(H_JOB_ID, self.id.as_str());
        headers.insert(H_PROTOCOL, PROTOCOL);
        headers.insert(H_JOB, self.name.as_str());
        headers.insert(H_SIGNATURE, format!("{:016x}", self.signature).as_str());
        headers.insert(H_REPLY, self.reply.as_str());
        headers.insert(H_MAX_DELIVER, self.max_deliver.to_string().as_str());
        if let Some(ms) = self.timeout_ms {
            headers.insert(H_TIMEOUT_MS, ms.to_string().as_str());
        }
        if let Some(ms) = self.deadline_ms {
            headers.insert(H_DEADLINE_MS, ms.to_string().as_str());
        }
        if self.keep {
            headers.insert(H_KEEP, "1");
        }
        if self.args_object {
            headers.insert(H_ARGS_OBJECT, "1");
        }
        if let Some(limit) = self.object_limit {
            headers.insert(H_OBJECT_LIMIT, limit.to_string().as_str());
        }
        headers
    }

    /// Reads the headers of a job message; the error says what is wrong with it. The reply
    /// subject must be under `results` ([`check_reply`]) and the job id `{client id}-{n}` of the
    /// client that the reply subject names.
    pub(crate) fn parse(headers: Option<&HeaderMap>, results: &str) -> Result<JobHeaders, String> {
        let headers = headers.ok_or("a message without headers (not a poolbridge job)")?;
        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let protocol = get(H_PROTOCOL).ok_or("no Poolbridge-Protocol header")?;
        if protocol != PROTOCOL {
            return Err(format!(
                "the job was sent with protocol {protocol}, this host speaks {PROTOCOL}: run the \
                 same poolbridge version on clients and hosts"
            ));
        }
        let id = get(H_JOB_ID).ok_or("no Poolbridge-Job-Id header")?;
        let name = get(H_JOB).ok_or("no Poolbridge-Job header")?;
        let signature = get(H_SIGNATURE)
            .and_then(|s| u64::from_str_radix(&s, 16).ok())
            .ok_or("no valid Poolbridge-Signature header")?;
        let reply = get(H_REPLY).ok_or("no Poolbridge-Reply header")?;
        check_reply(results, &reply)?;
        let client = &reply[results.len() + 1..];
        let id_ok = id
            .strip_prefix(client)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !id_ok {
            return Err(format!(
                "the job id {id:?} is not `{client}-{{n}}`, the form its reply subject implies"
            ));
        }
        let max_deliver = get(H_MAX_DELIVER)
            .and_then(|s| s.parse().ok())
            .ok_or("no valid Poolbridge-Max-Deliver header")?;
        let timeout_ms = match get(H_TIMEOUT_MS) {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| "an invalid Poolbridge-Timeout-Ms header")?,
            ),
        };
        let deadline_ms = match get(H_DEADLINE_MS) {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| "an invalid Poolbridge-Deadline-Ms header")?,
            ),
        };
        Ok(JobHeaders {
            id,
            name,
            signature,
            reply,
            max_deliver,
            timeout_ms,
            deadline_ms,
            keep: get(H_KEEP).is_some_and(|v| v == "1"),
            args_object: get(H_ARGS_OBJECT).is_some_and(|v| v == "1"),
            object_limit: get(H_OBJECT_LIMIT).and_then(|v| v.parse().ok()),
        })
    }
}

/// The time left of a job's deadline for the host that received it: `deadline_ms` (the time
/// left when the client published it) less the time it waited in the stream, which is
/// `now` less `stored`, the server's timestamp of the message (both since the Unix epoch).
/// Assumes the host's clock and the server's agree (NTP); a `stored` in the host's future
/// (a clock behind the server's) counts as no wait. The time between the client's publication
/// and the server's timestamp (a network hop) is not counted.
pub(crate) fn remaining(
    deadline_ms: u64,
    stored: std::time::Duration,
    now: std::time::Duration,
) -> std::time::Duration {
    let waited = now.saturating_sub(stored);
    std::time::Duration::from_millis(deadline_ms).saturating_sub(waited)
}

/// The headers of an answer.
pub(crate) fn answer_headers(
    job_id: &str,
    status: Status,
    host: &str,
    pid: u32,
    attempt: u64,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(H_JOB_ID, job_id);
    headers.insert(H_STATUS, status.as_str());
    headers.insert(H_HOST, host);
    headers.insert(H_PID, pid.to_string().as_str());
    headers.insert(H_ATTEMPT, attempt.to_string().as_str());
    headers
}

/// An answer, as the client reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) job_id: String,
    pub(crate) status: Status,
    pub(crate) host: String,
    pub(crate) pid: u32,
    /// Which delivery of the job the host had (1 for the first).
    pub(crate) attempt: u32,
    /// How long the host held the job in its local pool (`Poolbridge-Run-Us`), if it says.
    pub(crate) run_us: Option<u64>,
}

impl Answer {
    pub(crate) fn parse(headers: Option<&HeaderMap>) -> Option<Answer> {
        let headers = headers?;
        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        Some(Answer {
            job_id: get(H_JOB_ID)?,
            status: Status::parse(&get(H_STATUS)?)?,
            host: get(H_HOST).unwrap_or_default(),
            pid: get(H_PID).and_then(|p| p.parse().ok()).unwrap_or(0),
            attempt: get(H_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(1),
            run_us: get(H_RUN_US).and_then(|a| a.parse().ok()),
        })
    }
}

/// An answer as the answers bucket keeps it: the answer's headers that matter and its body.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stored {
    pub(crate) status: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) attempt: u32,
    pub(crate) body: Vec<u8>,
    /// The body is the object `output_object(job id)` (and `body` is empty).
    pub(crate) object: bool,
}

impl Stored {
    pub(crate) fn encode(
        status: Status,
        host: &str,
        pid: u32,
        attempt: u64,
        body: &[u8],
        object: bool,
    ) -> Vec<u8> {
        let stored = Stored {
            status: status.as_str().to_owned(),
            host: host.to_owned(),
            pid,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            body: body.to_vec(),
            object,
        };
        postcard::to_stdvec(&stored).unwrap_or_default()
    }

    /// The answer to job `job_id`, its body, and whether the body is in the objects bucket;
    /// `None` for a value that is no stored answer.
    pub(crate) fn decode(job_id: &str, value: &[u8]) -> Option<(Answer, Vec<u8>, bool)> {
        let stored: Stored = postcard::from_bytes(value).ok()?;
        let answer = Answer {
            job_id: job_id.to_owned(),
            status: Status::parse(&stored.status)?,
            host: stored.host,
            pid: stored.pid,
            attempt: stored.attempt,
            run_us: None,
        };
        Some((answer, stored.body, stored.object))
    }
}

/// A job id a client may attach to: `{client id}-{n}` (letters, digits, `_` in the client id).
pub(crate) fn check_job_id(id: &str) -> Result<(), String> {
    let ok = id.rsplit_once('-').is_some_and(|(client, n)| {
        !client.is_empty()
            && client
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a remote job id (`{{client id}}-{{n}}`, as RemoteExecutor::job_id \
             gives it)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_answers_round_trip() {
        let value = Stored::encode(Status::Ok, "h", 7, 2, b"out", true);
        let (answer, body, object) = Stored::decode("c-1", &value).unwrap();
        assert!(object);
        assert_eq!(
            (
                answer.job_id.as_str(),
                answer.status,
                answer.host.as_str(),
                answer.pid
            ),
            ("c-1", Status::Ok, "h", 7)
        );
        assert_eq!((answer.attempt, body.as_slice()), (2, &b"out"[..]));
        assert!(Stored::decode("c-1", b"\xff\xff").is_none());
        assert!(check_job_id("0123abcd-17").is_ok());
        for bad in ["", "x", "a-", "-1", "a b-1", "a.b-1", "a-1x"] {
            assert!(check_job_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_headers_round_trip() {
        let job = JobHeaders {
            id: "c0ffee-17".into(),
            name: "app::thumbnail".into(),
            signature: 0xdead_beef,
            reply: "poolbridge.results.c0ffee".into(),
            max_deliver: 3,
            timeout_ms: Some(1500),
            deadline_ms: Some(2500),
            keep: true,
            args_object: true,
            object_limit: Some(50 << 20),
        };
        let map = job.to_map();
        assert_eq!(JobHeaders::parse(Some(&map), "poolbridge.results"), Ok(job));
    }

    #[test]
    fn a_job_of_another_protocol_is_refused_with_a_reason() {
        let mut map = JobHeaders {
            id: "a-1".into(),
            name: "n".into(),
            signature: 1,
            reply: "p.results.a".into(),
            max_deliver: 1,
            timeout_ms: None,
            deadline_ms: None,
            keep: false,
            args_object: false,
            object_limit: None,
        }
        .to_map();
        map.insert(H_PROTOCOL, "99");
        let err = JobHeaders::parse(Some(&map), "p.results").unwrap_err();
        assert!(err.contains("same poolbridge version"), "{err}");
        assert!(JobHeaders::parse(None, "p.results").is_err());
    }

    #[test]
    fn a_reply_subject_outside_the_results_prefix_is_refused() {
        let job = |id: &str, reply: &str| JobHeaders {
            id: id.into(),
            name: "n".into(),
            signature: 1,
            reply: reply.into(),
            max_deliver: 1,
            timeout_ms: None,
            deadline_ms: None,
            keep: false,
            args_object: false,
            object_limit: None,
        };
        let results = "poolbridge.results";
        for reply in [
            "$JS.API.STREAM.DELETE.POOLBRIDGE",
            "poolbridge.results",
            "poolbridge.results.",
            "poolbridge.results.a.b",
            "poolbridge.results.*",
            "poolbridge.results.>",
            "poolbridge.resultsX.a",
            "other.results.a",
            "poolbridge.results.a b",
        ] {
            let map = job("a-1", reply).to_map();
            let err = JobHeaders::parse(Some(&map), results).unwrap_err();
            assert!(err.contains("results prefix"), "{reply}: {err}");
        }
        // The id must be the reply's client id and a sequence number.
        for id in ["b-1", "a-", "a-x", "a1", "a-1.2"] {
            let map = job(id, "poolbridge.results.a").to_map();
            assert!(JobHeaders::parse(Some(&map), results).is_err(), "{id}");
        }
        let map = job("c0ffee-1", "poolbridge.results.c0ffee").to_map();
        assert!(JobHeaders::parse(Some(&map), results).is_ok());
    }

    #[test]
    fn a_client_confirms_only_to_an_inbox() {
        assert!(is_inbox("_INBOX.abc.def"));
        for reply in [
            "$JS.API.STREAM.DELETE.POOLBRIDGE",
            "_INBOX",
            "_INBOX.",
            "_INBOX.>",
            "_INBOX.a.*",
            "_INBOX..a",
            "poolbridge.jobs",
        ] {
            assert!(!is_inbox(reply), "{reply}");
        }
    }

    #[test]
    fn answers_round_trip() {
        for status in [
            Status::Started,
            Status::Ok,
            Status::Panicked,
            Status::Ipc,
            Status::Died,
            Status::Timeout,
            Status::Exhausted,
            Status::Stopped,
            Status::Deadline,
            Status::Progress,
        ] {
            let map = answer_headers("a-1", status, "host-1", 42, 2);
            let answer = Answer::parse(Some(&map)).unwrap();
            assert_eq!(answer.status, status);
            assert_eq!(
                (answer.host.as_str(), answer.pid, answer.attempt),
                ("host-1", 42, 2)
            );
        }
    }

    #[test]
    fn the_time_left_subtracts_the_wait_in_the_stream() {
        let s = std::time::Duration::from_secs;
        let ms = std::time::Duration::from_millis;
        assert_eq!(remaining(5_000, s(100), s(102)), s(3));
        assert_eq!(remaining(5_000, s(100), s(106)), s(0));
        // A server clock ahead of the host's: no wait, not more time.
        assert_eq!(remaining(5_000, s(100), s(99)), s(5));
        assert_eq!(remaining(0, s(100), s(100)), ms(0));
    }

    #[test]
    fn names_are_checked() {
        assert!(Names::check("POOLBRIDGE", "poolbridge").is_ok());
        assert!(
            Names::check("JOBS.V1", "p")
                .unwrap_err()
                .contains("stream name")
        );
        assert!(Names::check("J", "a.*").unwrap_err().contains("wildcards"));
        assert!(Names::check("J", "a..b").is_err());
        let names = Names::new("J", "acme.batch");
        assert_eq!(names.jobs, "acme.batch.jobs");
        assert_eq!(names.cancelled, "J_cancelled");
        assert_eq!(names.status, "acme.batch.status");
        assert_eq!(status_token("render.07 *"), "render_07__");
        assert_eq!(status_token("host-a_1"), "host-a_1");
        assert_eq!(
            split_progress(&progress_body(3, u64::MAX)),
            Some((3, u64::MAX))
        );
        assert_eq!(split_progress(b""), None);
    }
}
