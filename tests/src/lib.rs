//! Shared helpers for the integration tests in `tests/tests/`: locating the workspace's
//! built binaries and running them on scratch directories.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod corpus;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Path of a workspace binary built by Cargo (`target/<profile>/<name>`), building it first
/// if it is missing.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--workspace", "--bin", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// Runs a workspace binary with arguments and returns its output.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(binary(name))
        .args(args)
        .output()
        .expect("run binary")
}

/// A scratch registry: a synthetic source tree (`mkdb gen`) compiled into a database.
#[derive(Debug)]
pub struct Registry {
    /// Keeps the scratch directory alive.
    pub dir: tempfile::TempDir,
    /// The source tree (`schema/`, `data/`).
    pub src: PathBuf,
    /// The compiled database.
    pub db: PathBuf,
}

impl Registry {
    /// Generates `domains` synthetic domains (with the specification's sample objects)
    /// and compiles them.
    pub fn new(domains: u64) -> Registry {
        let dir = tempfile::tempdir().expect("scratch directory");
        let src = dir.path().join("src");
        let db = dir.path().join("db");
        let opts = mkdb::synth::GenOptions {
            domains,
            ..Default::default()
        };
        mkdb::synth::generate(&src, &opts, &mut |_| {}).expect("generate demo data");
        let r = Registry { dir, src, db };
        r.compile();
        r
    }

    /// Compiles the source tree into a new generation; returns its number.
    pub fn compile(&self) -> u64 {
        let opts = mkdb::CompileOptions {
            threads: 1,
            ..Default::default()
        };
        mkdb::compile(&self.src, &self.db, &opts, &|_, _| {})
            .expect("compile")
            .generation
    }
}

/// A running `whoisd` process on loopback ports, killed when dropped.
#[derive(Debug)]
pub struct Whoisd {
    child: std::process::Child,
    /// The port-43 address.
    pub whois: std::net::SocketAddr,
    /// The RWhois address (when served).
    pub rwhois: Option<std::net::SocketAddr>,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Whoisd {
    /// Starts `whoisd` on free loopback ports over `db`, with extra arguments, and waits
    /// until it listens.
    pub fn start(db: &std::path::Path, extra: &[&str]) -> Whoisd {
        Self::start_on(db, "127.0.0.1:0", extra)
    }

    /// Like [`Whoisd::start`] with a chosen port-43 address (a clone joins another's port).
    pub fn start_on(db: &std::path::Path, listen: &str, extra: &[&str]) -> Whoisd {
        use std::io::BufRead;
        let logs = tempfile::tempdir().expect("log directory");
        let stderr = logs.path().join("stderr");
        let no_rwhois = extra.contains(&"--no-rwhois");
        let mut cmd = Command::new(binary("whoisd"));
        cmd.args(["--listen", listen, "--workers", "2"]);
        if !no_rwhois {
            cmd.args(["--rwhois", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .args(extra)
            .arg(db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start whoisd");
        let out = child.stdout.take().expect("stdout");
        let mut whois = None;
        let mut rwhois = None;
        let mut lines = std::io::BufReader::new(out).lines();
        for line in lines.by_ref() {
            let line = line.expect("read whoisd stdout");
            let mut w = line.split_whitespace();
            match (w.next(), w.next(), w.next().and_then(|a| a.parse().ok())) {
                (Some("listening"), Some("whois"), Some(a)) => whois = Some(a),
                (Some("listening"), Some("rwhois"), Some(a)) => rwhois = Some(a),
                _ => {}
            }
            if whois.is_some() && (rwhois.is_some() || no_rwhois) {
                break;
            }
        }
        // Keep reading what else it prints, so its writes never meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let Some(whois) = whois else {
            let _ = child.wait();
            panic!(
                "whoisd did not start: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Whoisd {
            child,
            whois,
            rwhois,
            stderr,
            _logs: logs,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal(rustix::process::Signal::TERM);
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGHUP (reload the limits policy).
    pub fn hangup(&self) {
        self.signal(rustix::process::Signal::HUP);
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, sig).expect("signal whoisd");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// One port-43 exchange on a fresh connection: sends `input` as is, reads to EOF.
    pub fn send(&self, input: &[u8]) -> String {
        exchange(self.whois, input)
    }

    /// One query (CRLF appended) on a fresh connection; the whole answer with the banner.
    pub fn query(&self, q: &str) -> String {
        self.send(format!("{q}\r\n").as_bytes())
    }
}

impl Drop for Whoisd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to `addr`, sends `input`, reads until the server closes (at most 20 s).
pub fn exchange(addr: std::net::SocketAddr, input: &[u8]) -> String {
    exchange_from(None, addr, input)
}

/// A TCP connection from a chosen local address (say 127.0.0.7, to be another source).
pub fn connect_from(
    local: Option<std::net::IpAddr>,
    addr: std::net::SocketAddr,
) -> std::net::TcpStream {
    let Some(ip) = local else {
        return std::net::TcpStream::connect(addr).expect("connect");
    };
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&std::net::SocketAddr::new(ip, 0).into())
        .expect("bind the source address");
    s.connect(&addr.into()).expect("connect");
    s.into()
}

/// Like [`exchange`], from a chosen local address.
pub fn exchange_from(
    local: Option<std::net::IpAddr>,
    addr: std::net::SocketAddr,
    input: &[u8],
) -> String {
    use std::io::{Read, Write};
    let mut s = connect_from(local, addr);
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(input).expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the answer to EOF");
    String::from_utf8(out).expect("answers are UTF-8")
}

/// A running `rdapd` process (RDAP and the web page) on a loopback port, killed when
/// dropped.
#[derive(Debug)]
pub struct Rdapd {
    child: std::process::Child,
    /// The HTTP address.
    pub addr: std::net::SocketAddr,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Rdapd {
    /// Starts `rdapd` on a free loopback port over `db`, with extra arguments, and waits
    /// until it listens (it prints `listening http ADDR`).
    pub fn start(db: &std::path::Path, extra: &[&str]) -> Rdapd {
        use std::io::BufRead;
        let logs = tempfile::tempdir().expect("log directory");
        let stderr = logs.path().join("stderr");
        let mut child = Command::new(binary("rdapd"))
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .arg(db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start rdapd");
        let out = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(out).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.expect("read rdapd stdout");
            if let Some(a) = line.strip_prefix("listening http ") {
                addr = a.trim().parse().ok();
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let Some(addr) = addr else {
            let _ = child.wait();
            panic!(
                "rdapd did not start: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Rdapd {
            child,
            addr,
            stderr,
            _logs: logs,
        }
    }

    /// `http://ADDR` followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGHUP (reload the limits and redaction policies).
    pub fn hangup(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("signal rdapd");
    }
}

impl Drop for Rdapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer as `curl` received it.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased: (name, value).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl HttpAnswer {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Fetches `url` with Debian's `curl` (installed by `tools/run-tests`), with extra
/// arguments (`-I` for HEAD, `-H ...`).
pub fn curl(url: &str, extra: &[&str]) -> HttpAnswer {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20"])
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl (apt-get install curl)");
    assert!(out.status.success(), "curl {url}: {out:?}");
    let text = String::from_utf8(out.stdout).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A running `eppd` on `127.0.0.1:0` with the development certificates of `certs`
/// (`eppd gen-dev-certs`), killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Eppd {
    /// The process.
    pub child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Eppd {
    /// Starts eppd on the database `db` and the change spool `spool`, with `extra`
    /// arguments, and waits for its `eppd listening on ADDR` line.
    pub fn start(
        db: &std::path::Path,
        certs: &std::path::Path,
        spool: &std::path::Path,
        extra: &[&str],
    ) -> Eppd {
        use std::io::BufRead as _;
        let mut child = Command::new(binary("eppd"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--db")
            .arg(db)
            .arg("--spool")
            .arg(spool)
            .arg("--ca")
            .arg(certs.join("ca.pem"))
            .arg("--cert")
            .arg(certs.join("server.pem"))
            .arg("--key")
            .arg(certs.join("server.key"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start eppd");
        let stdout = child.stdout.take().expect("eppd stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        // "eppd listening on ADDR (N domains, next change S)"
        let addr = first
            .strip_prefix("eppd listening on ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok());
        std::thread::spawn(move || lines.for_each(drop));
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("eppd did not start: {first:?}");
        };
        Eppd { child, addr }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(mut self) {
        // std's kill is SIGKILL on Unix.
        self.child.kill().expect("kill -9 eppd");
        let _ = self.child.wait();
    }
}

impl Drop for Eppd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, also when a test fails, so
/// no test leaves a server running.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// `kill -9` now, and waits for the process to be gone.
    pub fn kill(&mut self) {
        // std's kill is SIGKILL on Unix.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `loader watch --interval-ms 10 --changes SPOOL EXTRA... DB`, its log appended to
/// `log`.
pub fn loader_watch(
    db: &std::path::Path,
    spool: &std::path::Path,
    log: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> KillOnDrop {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the loader log");
    Command::new(binary("loader"))
        .args(["watch", "--interval-ms", "10", "--changes"])
        .arg(spool)
        .args(extra)
        .arg(db)
        .stderr(std::process::Stdio::from(log))
        .spawn()
        .map(KillOnDrop)
        .expect("start loader watch")
}
