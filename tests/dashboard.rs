//! The live page (feature `dashboard`): its HTTP server with well-formed and malformed requests,
//! and the page itself in a real headless browser: Debian's `chromium`, driven through
//! `chromedriver` (WebDriver over HTTP, spoken here with a `TcpStream` and a small JSON reader).
//! While a pool runs jobs, the completed count on the page must grow; once they are done, every
//! number on the page must equal `pool.metrics()`.
//!
//! Run with `cargo test --features dashboard --test dashboard`. Without chromium and
//! chromedriver (`apt-get install chromium chromium-driver`; or their paths in
//! `POOLBRIDGE_CHROMIUM` and `POOLBRIDGE_CHROMEDRIVER`) the browser test is skipped with a
//! message, except in CI (`CI` set) or with `POOLBRIDGE_REQUIRE_CHROMIUM=1`, where it fails.
//! The browser is told to resolve no host name at all: nothing leaves the machine.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poolbridge::ThreadPoolExecutor;
use poolbridge::dashboard::Dashboard;

// ---------------------------------------------------------------------------------------------
// A small JSON reader (the dev-dependencies have no JSON crate): enough for WebDriver's answers
// and to check that /metrics.json is well-formed.

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing bytes at {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(key).unwrap_or(&Json::Null),
            _ => &Json::Null,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end".into()),
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut map = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(map));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    let value = self.value()?;
                    if map.insert(key.clone(), value).is_some() {
                        return Err(format!("duplicate key {key:?}"));
                    }
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(map));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.i)),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat("\"")?;
        let mut out = String::new();
        loop {
            let rest = std::str::from_utf8(&self.s[self.i..]).map_err(|e| e.to_string())?;
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else {
                return Err("unterminated string".into());
            };
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = std::str::from_utf8(
                                self.s.get(self.i..self.i + 4).ok_or("bad \\u")?,
                            )
                            .map_err(|e| e.to_string())?;
                            let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err("bad escape".into()),
                    }
                }
                c if (c as u32) < 0x20 => return Err("control character in string".into()),
                c => out.push(c),
            }
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over a TcpStream, one request per connection.

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends `raw` as is and reads the whole reply (the server closes every connection).
fn raw_request(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).expect("send");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read reply");
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One request to chromedriver: it answers with a Content-Length, and may keep the connection.
fn webdriver(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Json, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                if bytes.len() >= end + 4 + len {
                    bytes.truncate(end + 4 + len);
                    break;
                }
            }
        }
    }
    let reply = parse_reply(&bytes);
    let json = Json::parse(&reply.body).map_err(|e| format!("{e} in {:?}", reply.body))?;
    if reply.status != 200 {
        return Err(format!(
            "{method} {path}: HTTP {}: {}",
            reply.status, reply.body
        ));
    }
    Ok(json.get("value").clone())
}

// ---------------------------------------------------------------------------------------------
// The server, without a browser.

fn small_dashboard() -> (Arc<ThreadPoolExecutor>, Dashboard) {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let dashboard = Dashboard::builder()
        .thread_pool("threads", &pool)
        .sample_every(Duration::from_millis(20))
        .bind("127.0.0.1:0")
        .expect("bind");
    (pool, dashboard)
}

#[test]
fn serves_the_page_and_the_document() {
    let (pool, dashboard) = small_dashboard();
    let addr = dashboard.local_addr();
    let futures: Vec<_> = (0..20).map(|i| pool.submit(move || i)).collect();
    futures.iter().for_each(|f| f.wait());
    pool.submit(|| panic!("on purpose")).wait();
    std::thread::sleep(Duration::from_millis(100));

    let page = raw_request(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&page, "connection"), Some("close"));
    assert_eq!(
        header(&page, "content-length"),
        Some(page.body.len().to_string().as_str())
    );
    let csp = header(&page, "content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    // Nothing from outside: no URL with a scheme or a host anywhere in the page.
    for needle in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
        assert!(!page.body.contains(needle), "the page names {needle}");
    }

    let doc = raw_request(addr, b"GET /metrics.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(doc.status, 200);
    assert_eq!(header(&doc, "content-type"), Some("application/json"));
    let json = Json::parse(&doc.body).expect("valid JSON");
    assert_eq!(json.get("version").num(), Some(1.0));
    let ex = &json.get("executors").arr()[0];
    assert_eq!(ex.get("id").str(), Some("threads"));
    assert_eq!(ex.get("kind").str(), Some("thread_pool"));
    assert_eq!(ex.get("alive"), &Json::Bool(true));
    let m = pool.metrics();
    let current = ex.get("current");
    assert_eq!(current.get("completed").num(), Some(m.completed as f64));
    assert_eq!(current.get("completed").num(), Some(20.0));
    assert_eq!(current.get("failed").num(), Some(1.0));
    assert_eq!(current.get("panicked").num(), Some(1.0));
    assert_eq!(current.get("threads").num(), Some(m.threads as f64));
    // No job runs: no progress to show (an empty list; `null` only for the remote executor).
    assert_eq!(ex.get("progress"), &Json::Arr(Vec::new()));
    // The test thread's first job was timed (one in 64 is): a run time and a queue wait.
    let latency = ex.get("latency");
    for summary in ["queue_wait", "run_time"] {
        let s = latency.get(summary);
        assert!(
            s.get("samples").num().is_some_and(|n| n >= 1.0),
            "{summary}"
        );
        let p50 = s.get("p50_us").num().expect("p50_us");
        let max = s.get("max_us").num().expect("max_us");
        assert!(p50 <= max, "{summary}: p50 {p50} max {max}");
    }
    let history = ex.get("history");
    let t = history.get("t_ms").arr();
    assert!(t.len() >= 3, "samples every 20 ms: {}", t.len());
    for series in [
        "completed",
        "failed",
        "cancelled",
        "queued",
        "running",
        "run_p50_us",
        "run_p99_us",
    ] {
        assert_eq!(history.get(series).arr().len(), t.len(), "{series}");
    }
    assert_eq!(
        history.get("completed").arr().last().and_then(Json::num),
        Some(20.0)
    );
    // The same document from the API (up to `now_ms`).
    let api = Json::parse(&dashboard.snapshot()).expect("valid JSON");
    assert_eq!(api.get("executors").arr()[0].get("current"), current);

    // Query strings are ignored.
    assert_eq!(
        raw_request(addr, b"GET /metrics.json?t=1 HTTP/1.0\r\n\r\n").status,
        200
    );
}

#[test]
fn refuses_what_it_does_not_serve_and_survives_bad_input() {
    let (_pool, dashboard) = small_dashboard();
    let addr = dashboard.local_addr();
    let cases: &[(&[u8], u16)] = &[
        (b"GET /nope HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics.json/ HTTP/1.1\r\n\r\n", 404),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405),
        (b"DELETE /metrics.json HTTP/1.1\r\n\r\n", 405),
        (b"GET / HTTP/2\r\n\r\n", 400),
        (b"GET http://example.com/ HTTP/1.1\r\n\r\n", 400),
        (b"\x00\x01\x02\xff\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
    ];
    for (raw, status) in cases {
        let reply = raw_request(addr, raw);
        assert_eq!(reply.status, *status, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(header(&reply, "connection"), Some("close"));
    }
    let reply = raw_request(addr, b"PUT / HTTP/1.1\r\n\r\n");
    assert_eq!(header(&reply, "allow"), Some("GET"));

    // A head that never ends: 431 once it passes 8 KiB.
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    while big.len() < 20_000 {
        big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(&big); // the server may close before reading it all
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    assert!(
        bytes.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );

    // Idle connections (a browser's pre-connected sockets, a client that sends half a head)
    // do not hold up other requests.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET / HT").unwrap();
    let started = Instant::now();
    assert_eq!(raw_request(addr, b"GET / HTTP/1.1\r\n\r\n").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The half head gets a 408 when its time is up.
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = half.read_to_end(&mut bytes);
    assert!(
        bytes.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    drop(idle);

    assert_eq!(raw_request(addr, b"GET / HTTP/1.1\r\n\r\n").status, 200);
}

#[test]
fn drop_stops_the_server_promptly_and_keeps_no_pool_alive() {
    let (pool, dashboard) = small_dashboard();
    let addr = dashboard.local_addr();
    // An idle connection open at the drop is cut, not waited for.
    let _idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // The pool is held weakly: dropping it ends it, and the page keeps its last numbers.
    pool.submit(|| ()).wait();
    std::thread::sleep(Duration::from_millis(100)); // a sample (every 20 ms) reads it
    let weak = Arc::downgrade(&pool);
    drop(pool);
    assert!(weak.upgrade().is_none());
    let json = Json::parse(&dashboard.snapshot()).unwrap();
    let ex = &json.get("executors").arr()[0];
    assert_eq!(ex.get("alive"), &Json::Bool(false));
    assert_eq!(ex.get("current").get("completed").num(), Some(1.0));

    let started = Instant::now();
    drop(dashboard);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after the drop"
    );
}

// ---------------------------------------------------------------------------------------------
// The page in a real browser.

fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("POOLBRIDGE_REQUIRE_CHROMIUM").as_deref() == Ok("1")
}

/// The file `$var` names (if it exists), or else the first of `candidates` that exists (a bare
/// name is looked up on PATH).
fn find(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    for c in candidates {
        if Path::new(c).is_file() {
            return Some(PathBuf::from(c));
        }
        if !c.contains('/') {
            let path = std::env::var_os("PATH")?;
            if let Some(found) = std::env::split_paths(&path)
                .map(|dir| dir.join(c))
                .find(|p| p.is_file())
            {
                return Some(found);
            }
        }
    }
    None
}

/// chromedriver, killed when dropped (and the browser profile removed).
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: Option<String>,
    profile: Option<PathBuf>,
}

impl Driver {
    fn start(driver: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let d = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
            profile: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match webdriver(d.addr, "GET", "/status", None) {
                Ok(v) if v.get("ready") == &Json::Bool(true) => break,
                _ if Instant::now() > deadline => panic!("chromedriver did not become ready"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        d
    }

    fn open_session(&mut self, chromium: &Path, profile: &Path) {
        self.profile = Some(profile.to_owned());
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            // No host name resolves: nothing can leave the machine (the page is on an IP).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1200,900",
        ]
        .iter()
        .map(|a| json_string(a))
        .chain([json_string(&format!(
            "--user-data-dir={}",
            profile.display()
        ))])
        .collect::<Vec<_>>()
        .join(",");
        let caps = format!(
            r#"{{"capabilities":{{"alwaysMatch":{{"browserName":"chrome","goog:chromeOptions":{{"binary":{},"args":[{args}]}}}}}}}}"#,
            json_string(&chromium.display().to_string())
        );
        let value = webdriver(self.addr, "POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        let id = value
            .get("sessionId")
            .str()
            .expect("a session id")
            .to_owned();
        self.session = Some(id);
    }

    fn path(&self, rest: &str) -> String {
        format!(
            "/session/{}{rest}",
            self.session.as_deref().expect("a session")
        )
    }

    fn navigate(&self, url: &str) {
        let body = format!(r#"{{"url":{}}}"#, json_string(url));
        webdriver(self.addr, "POST", &self.path("/url"), Some(&body)).expect("navigate");
    }

    fn execute(&self, script: &str, args: &str) -> Json {
        let body = format!(r#"{{"script":{},"args":{args}}}"#, json_string(script));
        webdriver(self.addr, "POST", &self.path("/execute/sync"), Some(&body)).expect("execute")
    }

    /// The text of the elements with these ids (`None` where there is no such element yet).
    fn texts(&self, ids: &[&str]) -> Vec<Option<String>> {
        let list = ids
            .iter()
            .map(|i| json_string(i))
            .collect::<Vec<_>>()
            .join(",");
        let v = self.execute(
            "return arguments[0].map(id => { const e = document.getElementById(id); \
             return e ? e.textContent : null; });",
            &format!("[[{list}]]"),
        );
        v.arr().iter().map(|t| t.str().map(str::to_owned)).collect()
    }

    fn number(&self, id: &str) -> Option<u64> {
        self.texts(&[id])[0].as_deref().and_then(|t| t.parse().ok())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.session.is_some() {
            let path = self.path("");
            let _ = webdriver(self.addr, "DELETE", &path, None);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(profile) = &self.profile {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// The fields the page shows for a thread pool, and the same from `metrics()`.
const FIELDS: [&str; 7] = [
    "threads",
    "idle",
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
];

fn from_metrics(pool: &ThreadPoolExecutor) -> Vec<u64> {
    let m = pool.metrics();
    vec![
        m.threads as u64,
        m.idle as u64,
        m.queued as u64,
        m.running as u64,
        m.completed,
        m.panicked + m.worker_died + m.timed_out + m.deadline_exceeded,
        m.cancelled,
    ]
}

#[test]
fn the_page_in_headless_chromium_follows_the_pool() {
    let chromium = find(
        "POOLBRIDGE_CHROMIUM",
        &["/usr/bin/chromium", "chromium", "chromium-browser"],
    );
    let driver = find(
        "POOLBRIDGE_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "chromedriver"],
    );
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        let why = "chromium and chromedriver are needed (apt-get install chromium chromium-driver, \
                   or POOLBRIDGE_CHROMIUM and POOLBRIDGE_CHROMEDRIVER)";
        if required() {
            panic!("{why}; CI or POOLBRIDGE_REQUIRE_CHROMIUM=1 requires them");
        }
        eprintln!("SKIPPED the_page_in_headless_chromium_follows_the_pool: {why}");
        return;
    };

    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let sample_every = Duration::from_millis(100);
    let dashboard = Dashboard::builder()
        .thread_pool("threads", &pool)
        .sample_every(sample_every)
        .bind("127.0.0.1:0")
        .expect("bind");

    let profile = std::env::temp_dir().join(format!("poolbridge-dashboard-{}", std::process::id()));
    let mut browser = Driver::start(&driver);
    browser.open_session(&chromium, &profile);
    browser.navigate(&dashboard.url());

    // The page builds its table from its first poll.
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.number("threads-completed").is_none() {
        assert!(
            Instant::now() < deadline,
            "the page never showed threads-completed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Jobs, fed until told to stop: 10 ms each on 2 threads, one in 50 panics, one in 25
    // cancelled right after submit (it counts as cancelled if no thread had taken it).
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = std::thread::spawn({
        let pool = Arc::clone(&pool);
        let stop = Arc::clone(&stop);
        move || {
            let mut futures = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                if pool.metrics().queued < 40 {
                    n += 1;
                    let f = pool.submit(move || {
                        std::thread::sleep(Duration::from_millis(10));
                        assert!(n % 50 != 0, "on purpose");
                    });
                    if n % 25 == 1 {
                        f.cancel();
                    }
                    futures.push(f);
                } else {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            futures.iter().for_each(|f| f.wait());
        }
    });

    // While they run, the completed count on the page grows.
    std::thread::sleep(Duration::from_millis(700));
    let first = browser.number("threads-completed").expect("a number");
    std::thread::sleep(Duration::from_millis(1500));
    let second = browser.number("threads-completed").expect("a number");
    assert!(
        second > first,
        "completed on the page did not grow: {first} then {second}"
    );
    let running = browser.number("threads-running").expect("a number");
    assert!(running <= 2, "running {running}");
    assert!(pool.metrics().completed >= second);

    stop.store(true, Ordering::SeqCst);
    feeder.join().expect("the feeder");
    // Every job is done (a job's future can resolve just before its thread counts it).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = pool.metrics();
        if m.running == 0 && m.queued == 0 && m.idle == m.threads {
            break;
        }
        assert!(Instant::now() < deadline, "the pool did not settle: {m:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // One sample interval and a poll of the page later, its numbers are metrics()'s.
    std::thread::sleep(sample_every + Duration::from_millis(600));
    let expected = from_metrics(&pool);
    let ids: Vec<String> = FIELDS.iter().map(|f| format!("threads-{f}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        shown = browser
            .texts(&ids)
            .into_iter()
            .map(|t| t.and_then(|t| t.parse::<u64>().ok()).unwrap_or(u64::MAX))
            .collect();
        if shown == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(shown, expected, "page {ids:?} vs metrics()");
    assert!(expected[4] > 0 && expected[5] > 0, "{expected:?}");

    // The details line (every other field of metrics()) and the chart are there too.
    let m = pool.metrics();
    assert_eq!(browser.number("threads-spawned"), Some(m.spawned));
    assert_eq!(browser.number("threads-panicked"), Some(m.panicked));
    let chart = browser.execute(
        "const c = document.getElementById('threads-chart'); return c ? c.tagName + ' ' + c.width : null;",
        "[]",
    );
    assert!(
        chart.str().is_some_and(|s| s.starts_with("CANVAS ")),
        "{chart:?}"
    );
    // The page loaded nothing but itself and /metrics.json, all from the dashboard.
    let origin = dashboard.url();
    let resources = browser.execute(
        "return performance.getEntriesByType('resource').map(e => e.name);",
        "[]",
    );
    for r in resources.arr() {
        let name = r.str().unwrap_or_default();
        assert!(name.starts_with(&origin), "the page loaded {name}");
    }
    let status = browser.texts(&["status"])[0].clone().unwrap_or_default();
    assert!(status.starts_with("live"), "{status}");

    // A running job that reports progress shows as a bar with its numbers, and leaves when done.
    let (reported, seen) = std::sync::mpsc::channel();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let job = pool.submit(move || {
        poolbridge::progress(3, 10);
        reported.send(()).unwrap();
        gate.recv().unwrap();
    });
    seen.recv().unwrap();
    assert_eq!(pool.metrics().progress, [(3, 10)]);
    let shown = |browser: &Driver| {
        browser.texts(&["threads-progress"])[0]
            .clone()
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shown(&browser).contains("3/10") {
        assert!(
            Instant::now() < deadline,
            "no progress bar: {:?}",
            shown(&browser)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    release.send(()).unwrap();
    job.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while shown(&browser).contains("3/10") {
        assert!(Instant::now() < deadline, "the ended job's bar stayed");
        std::thread::sleep(Duration::from_millis(100));
    }
}
