//! `registry`: runs the registry on one machine with embedded defaults.
//!
//! `registry up` prepares a working directory (demo data, a compiled database, development
//! certificates and two registrars able to log in over EPP), then runs the whole system:
//! `loader watch` on the change spool, three `whoisd` clones sharing one whois port
//! (`SO_REUSEPORT`, each with its own health port), `rdapd` and `eppd`, logging every line
//! of every process, prefixed with its name, to standard output and `DIR/registry.log`.
//! Ctrl-C or SIGTERM stops everything (SIGTERM to each process, then waits); a process that
//! dies by itself stops everything with exit status 1.
//!
//! `registry demo` is the smaller first look: compile, sample queries, one whoisd.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use mkdb::render::{AnswerOptions, render_answer};

/// The .coop registry on one machine.
#[derive(Debug, Parser)]
#[command(name = "registry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The demo registrars: id and EPP password (development only).
const REGISTRARS: [(&str, &str); 2] = [("ClientX", "x-Demo-pw1"), ("ClientY", "y-Demo-pw2")];

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole registry on this machine: demo data (generated once), a compiled
    /// database, development certificates and registrars (once), then loader watch, three
    /// whoisd clones on one whois port, rdapd and eppd, until Ctrl-C or SIGTERM. Every
    /// process's output goes to standard output and DIR/registry.log, each line prefixed
    /// with the process name. Port 0 picks free ports (printed when ready).
    Up(Up),
    /// Generate demo data (once), compile it into a database, answer sample queries, then
    /// serve it with whoisd on loopback until Ctrl-C.
    Demo {
        /// Working directory for the demo source tree and database.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Number of synthetic domains.
        #[arg(long, default_value_t = 10_000)]
        domains: u64,
        /// Port-43 whois address to serve on.
        #[arg(long, default_value = "127.0.0.1:4343")]
        whois: String,
        /// RWhois address to serve on.
        #[arg(long, default_value = "127.0.0.1:4321")]
        rwhois: String,
        /// Stop after the sample queries instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("registry: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            dir,
            domains,
            whois,
            rwhois,
            no_serve,
        } => demo(&dir, domains, &whois, &rwhois, no_serve).map(|()| ExitCode::SUCCESS),
        Command::Up(options) => up(&options),
    }
}

/// The binaries next to this one (target/release after `tools/registry`), with a
/// trailing slash; empty if unknown (then `PATH` decides).
fn bin_dir() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string() + "/"))
        .unwrap_or_default()
}

/// Generates the demo source tree in `src` unless it has data already.
fn generate(src: &Path, domains: u64, say: &dyn Fn(&str)) -> anyhow::Result<()> {
    if src.join("data").exists() {
        say(&format!("using the existing source tree {}", src.display()));
        return Ok(());
    }
    let t = Instant::now();
    let opts = mkdb::synth::GenOptions {
        domains,
        ..Default::default()
    };
    let s = mkdb::synth::generate(src, &opts, &mut |_| {}).context("generating demo data")?;
    say(&format!(
        "generated {} domains, {} contacts, {} nameservers, {} registrars in {} ({:.1}s)",
        s.domains,
        s.contacts,
        s.nameservers,
        s.registrars,
        src.display(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Compiles `src` into `db` (unchanged files reuse their segments).
fn compile(src: &Path, db: &Path, say: &dyn Fn(&str)) -> anyhow::Result<()> {
    let rep = mkdb::compile(src, db, &mkdb::CompileOptions::default(), &|_, _| {})
        .map_err(|e| match e {
            mkdb::CompileError::Source(p) => {
                anyhow::anyhow!(
                    "{}",
                    p.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            }
            e => e.into(),
        })
        .context("compiling")?;
    say(&format!(
        "published generation {} in {}: {} in {:.2}s ({} of {} files reused)",
        rep.generation,
        db.display(),
        rep.counts(),
        rep.elapsed.as_secs_f64(),
        rep.reused,
        rep.files
    ));
    Ok(())
}

fn demo(dir: &Path, domains: u64, whois: &str, rwhois: &str, no_serve: bool) -> anyhow::Result<()> {
    let src = dir.join("src");
    let db = dir.join("db");
    let say = |s: &str| println!("{s}");
    generate(&src, domains, &say)?;
    compile(&src, &db, &say)?;
    let g = mkdb::Generation::open(&db)?;
    for q in [
        "domain test.coop",
        "nameserver 10.10.10.10",
        "registrar SAMPLE",
    ] {
        println!("\n$ mkdb query {} '{q}'", db.display());
        let mut out = Vec::new();
        let _ = render_answer(
            &g,
            q,
            AnswerOptions {
                limit: 3,
                banner: false,
            },
            &mut out,
        );
        print!("{}", String::from_utf8_lossy(&out).replace("\r\n", "\n"));
    }
    let bin = bin_dir();
    let (src_s, db_s) = (src.display(), db.display());
    println!("\nTry more queries:   {bin}mkdb query {db_s} 'pop*'");
    println!("                    {bin}mkdb query {db_s} 'contact CNT-1002'");
    println!("Edit a record:      $EDITOR {src_s}/data/domain/domain-0000.txt");
    println!("Check and publish:  {bin}mkdb check {src_s} && {bin}loader compile {src_s} {db_s}");
    if no_serve {
        return Ok(());
    }
    let (host, port) = whois.rsplit_once(':').unwrap_or((whois, "43"));
    println!("\nServing whois on {whois} and RWhois on {rwhois} (Ctrl-C stops):");
    println!("  whois -h {host} -p {port} test.coop");
    println!("  whois -h {host} -p {port} 'pop*'");
    println!("  printf -- '-holdconnect on\\r\\ntest.coop\\r\\n-quit\\r\\n' | nc {host} {port}");
    println!("A newly published generation (loader compile) is served within 100 ms.\n");
    // Its own process group, so a terminal's Ctrl-C reaches it once, through us.
    let mut child = std::process::Command::new(format!("{bin}whoisd"))
        .process_group(0)
        .args(["--listen", whois, "--rwhois", rwhois])
        .arg(&db)
        .spawn()
        .context("starting whoisd (build it with `cargo build --release -p whoisd`)")?;
    // Ctrl-C or SIGTERM here is passed on as SIGTERM: whoisd finishes open connections.
    let pid = rustix::process::Pid::from_raw(child.id() as i32);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
    });
    let status = child.wait()?;
    if !status.success() {
        bail!("whoisd exited with {status}");
    }
    Ok(())
}

/// The options of `registry up`.
#[derive(Debug, Args)]
struct Up {
    /// Working directory: src/ (source tree), db/, changes/ (spool), certs/, logs.
    #[arg(long, default_value = "demo")]
    dir: PathBuf,
    /// Number of synthetic domains (when the source tree is generated).
    #[arg(long, default_value_t = 10_000)]
    domains: u64,
    /// Port-43 whois address, shared by every clone.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4343")]
    whois: SocketAddr,
    /// RWhois address, shared by every clone.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4321")]
    rwhois: SocketAddr,
    /// Health address of the first clone; clone N uses the port N-1 above it (port 0:
    /// a free port each).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4391")]
    health: SocketAddr,
    /// Prometheus metrics address of the first clone (counters, answer latency); clone N
    /// uses the port N-1 above it (port 0: a free port each). Keep it on loopback or a
    /// management network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9391")]
    metrics: SocketAddr,
    /// RDAP and web address (rdapd).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    rdap: SocketAddr,
    /// EPP address (eppd, TLS).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    epp: SocketAddr,
    /// Number of whoisd clones.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    clones: u16,
    /// Event-loop threads per whoisd clone (default: one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Write the processes' output to DIR/registry.log only, not to standard output.
    #[arg(long, short)]
    quiet: bool,
}

/// Every line of every process, prefixed with its name, to standard output (unless
/// quiet) and the log file.
#[derive(Debug, Clone)]
struct Log {
    file: Arc<Mutex<std::fs::File>>,
    quiet: bool,
}

impl Log {
    fn line(&self, name: &str, text: &str) {
        let line = format!("{name:<9} | {text}\n");
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(line.as_bytes());
            if !self.quiet {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
        }
    }

    fn say(&self, text: &str) {
        self.line("registry", text);
    }
}

/// A process the supervisor started.
#[derive(Debug)]
struct Proc {
    name: String,
    child: Child,
    /// Its exit status, once reaped.
    status: Option<std::process::ExitStatus>,
}

/// Starts processes, forwards their output, and stops them.
#[derive(Debug)]
struct Supervisor {
    log: Log,
    procs: Vec<Proc>,
    readers: Vec<JoinHandle<()>>,
    tx: Sender<(usize, String)>,
    rx: Receiver<(usize, String)>,
    stop: Arc<AtomicBool>,
}

/// Why startup or supervision ended.
#[derive(Debug)]
enum End {
    /// SIGINT or SIGTERM.
    Requested,
    /// A process exited by itself.
    Died(String),
}

impl Supervisor {
    /// Starts `cmd` as `name`: its own process group (a terminal's Ctrl-C reaches only
    /// the supervisor, which stops everything in order), output forwarded line by line.
    fn spawn(&mut self, name: &str, mut cmd: std::process::Command) -> anyhow::Result<usize> {
        self.log.say(&format!(
            "starting {name}: {} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let mut child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {name} ({}; build it with `cargo build --release --workspace`)",
                    cmd.get_program().to_string_lossy()
                )
            })?;
        let idx = self.procs.len();
        let out = child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let (log, tx, name) = (self.log.clone(), self.tx.clone(), name.to_owned());
            self.readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    log.line(&name, &line);
                    let _ = tx.send((idx, line));
                }
            }));
        }
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            status: None,
        });
        Ok(idx)
    }

    /// Reaps processes that exited; the first one found is reported.
    fn check(&mut self) -> Option<End> {
        for p in &mut self.procs {
            if p.status.is_none()
                && let Ok(Some(s)) = p.child.try_wait()
            {
                p.status = Some(s);
                return Some(End::Died(format!("{} exited unexpectedly ({s})", p.name)));
            }
        }
        None
    }

    /// Waits until process `idx` prints lines for which `want` has collected everything
    /// (returns `Some`), watching for signals and deaths meanwhile.
    fn wait_for<T>(
        &mut self,
        idx: usize,
        timeout: Duration,
        mut want: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, End> {
        let end = Instant::now() + timeout;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(End::Requested);
            }
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok((i, line)) if i == idx => {
                    if let Some(t) = want(&line) {
                        return Ok(t);
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(e) = self.check() {
                        return Err(e);
                    }
                    if Instant::now() > end {
                        return Err(End::Died(format!(
                            "{} did not become ready within {}s",
                            self.procs[idx].name,
                            timeout.as_secs()
                        )));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    unreachable!("the supervisor holds a sender")
                }
            }
        }
    }

    /// Runs until a signal or a death.
    fn supervise(&mut self) -> End {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return End::Requested;
            }
            if let Some(e) = self.check() {
                return e;
            }
            // Drain readiness events nobody waits for any more.
            while self.rx.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM to every running process (the last started first), then waits up to
    /// `grace` for all; SIGKILL for the rest. True if every process exited in time.
    fn stop_all(&mut self, grace: Duration) -> bool {
        for p in self.procs.iter_mut().rev() {
            if p.status.is_none() {
                if let Ok(Some(s)) = p.child.try_wait() {
                    p.status = Some(s);
                    continue;
                }
                self.log.say(&format!("stopping {} (SIGTERM)", p.name));
                if let Some(pid) = rustix::process::Pid::from_raw(p.child.id() as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
            }
        }
        let end = Instant::now() + grace;
        let mut clean = true;
        for p in &mut self.procs {
            while p.status.is_none() {
                if let Ok(Some(s)) = p.child.try_wait() {
                    p.status = Some(s);
                    let how = if s.success() || s.signal() == Some(libc_sigterm()) {
                        "stopped".to_string()
                    } else {
                        format!("stopped ({s})")
                    };
                    self.log.say(&format!("{} {how}", p.name));
                } else if Instant::now() > end {
                    self.log
                        .say(&format!("{} did not stop in time: SIGKILL", p.name));
                    let _ = p.child.kill();
                    p.status = p.child.wait().ok();
                    clean = false;
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // The last lines of every process, before we report.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        clean
    }
}

/// SIGTERM's number: a process that kept the default action reports it as its signal.
fn libc_sigterm() -> i32 {
    rustix::process::Signal::TERM.as_raw()
}

/// A demo registrar's record and its separator.
fn registrar_record(id: &str, password: &str, fingerprint: &str) -> String {
    let name = format!("{id} Demo Registrar");
    eppd::certs::registrar_record(id, &name, password, fingerprint) + "---\n"
}

/// Development certificates (`eppd gen-dev-certs`) and the demo registrars bound to them,
/// made once.
fn provision(bin: &str, certs: &Path, src: &Path, log: &Log) -> anyhow::Result<()> {
    let file = src.join("data/registrar/epp-demo.txt");
    if certs.join("ca.pem").exists() && file.exists() {
        return Ok(());
    }
    let names: Vec<&str> = REGISTRARS.iter().map(|(n, _)| *n).collect();
    let out = std::process::Command::new(format!("{bin}eppd"))
        .arg("gen-dev-certs")
        .arg(certs)
        .args(&names)
        .output()
        .context("running eppd gen-dev-certs")?;
    if !out.status.success() {
        bail!(
            "eppd gen-dev-certs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut records = String::from(
        "# Demo registrars for EPP (written by `registry up`): passwords are in its output.\n",
    );
    for (id, pw) in REGISTRARS {
        let fp = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(n, _)| *n == id)
            .map(|(_, f)| f.trim())
            .with_context(|| format!("eppd gen-dev-certs printed no fingerprint for {id}"))?;
        records.push_str(&registrar_record(id, pw, fp));
    }
    std::fs::write(&file, records).with_context(|| file.display().to_string())?;
    log.say(&format!(
        "made development certificates in {} and registrars {} in {}",
        certs.display(),
        names.join(", "),
        file.display()
    ));
    Ok(())
}

/// The address in a `listening KIND ADDR` line.
fn listening(line: &str, kind: &str) -> Option<SocketAddr> {
    let mut w = line.split_whitespace();
    (w.next() == Some("listening") && w.next() == Some(kind))
        .then(|| w.next()?.parse().ok())
        .flatten()
}

fn up(o: &Up) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&o.dir).with_context(|| o.dir.display().to_string())?;
    let dir = o.dir.canonicalize()?;
    let (src, db, spool, certs) = (
        dir.join("src"),
        dir.join("db"),
        dir.join("changes"),
        dir.join("certs"),
    );
    let log_path = dir.join("registry.log");
    let log = Log {
        file: Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| log_path.display().to_string())?,
        )),
        quiet: o.quiet,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    log.say(&format!(
        "starting in {} (log: {})",
        dir.display(),
        log_path.display()
    ));
    let bin = bin_dir();
    let say = |s: &str| log.say(s);
    generate(&src, o.domains, &say)?;
    provision(&bin, &certs, &src, &log)?;
    match mkdb::generation::current_manifest(&db) {
        Ok(Some(m)) if m.applied > 0 => log.say(&format!(
            "serving generation {} of {} as it is: it holds changes up to {} not folded into {} (remove {} to start afresh)",
            m.generation,
            db.display(),
            m.applied,
            src.display(),
            dir.display()
        )),
        _ => compile(&src, &db, &say)?,
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut sup = Supervisor {
        log: log.clone(),
        procs: Vec::new(),
        readers: Vec::new(),
        tx,
        rx,
        stop,
    };
    let started = start_all(&mut sup, o, &bin, &db, &spool, &certs);
    let end = match started {
        Ok(addrs) => {
            print_usage(&log, &addrs, &spool, &certs);
            sup.supervise()
        }
        Err(e) => e,
    };
    let failed = match &end {
        End::Requested => {
            log.say("stopping (signal)");
            false
        }
        End::Died(why) => {
            log.say(&format!("{why}; stopping everything"));
            true
        }
    };
    let clean = sup.stop_all(Duration::from_secs(15));
    if failed || !clean {
        log.say("stopped, with errors");
        return Ok(ExitCode::from(1));
    }
    log.say("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Where everything listens, once ready.
#[derive(Debug)]
struct Addrs {
    whois: SocketAddr,
    rwhois: SocketAddr,
    health: Vec<SocketAddr>,
    metrics: Vec<SocketAddr>,
    rdap: SocketAddr,
    epp: SocketAddr,
}

const READY: Duration = Duration::from_secs(30);

fn start_all(
    sup: &mut Supervisor,
    o: &Up,
    bin: &str,
    db: &Path,
    spool: &Path,
    certs: &Path,
) -> Result<Addrs, End> {
    let spawn_err = |e: anyhow::Error| End::Died(format!("{e:#}"));
    std::fs::create_dir_all(spool).map_err(|e| End::Died(format!("{}: {e}", spool.display())))?;
    // The loader first: it publishes what is pending in the spool.
    let mut cmd = std::process::Command::new(format!("{bin}loader"));
    cmd.arg("watch").arg("--changes").arg(spool).arg(db);
    let i = sup.spawn("loader", cmd).map_err(spawn_err)?;
    sup.wait_for(i, READY, |l| l.contains("watching").then_some(()))?;
    // The first clone binds the ports (port 0: free ones); the others join them.
    let (mut whois, mut rwhois) = (o.whois, o.rwhois);
    let (mut health, mut metrics) = (Vec::new(), Vec::new());
    // Clone N's own port: the first clone's plus N-1 (port 0 stays 0: a free one).
    let nth = |mut a: SocketAddr, n: u16| {
        if a.port() != 0 {
            a.set_port(a.port().saturating_add(n - 1));
        }
        a
    };
    for n in 1..=o.clones {
        let (h, m) = (nth(o.health, n), nth(o.metrics, n));
        let mut cmd = std::process::Command::new(format!("{bin}whoisd"));
        cmd.args(["--listen", &whois.to_string()])
            .args(["--rwhois", &rwhois.to_string()])
            .args(["--health", &h.to_string()])
            .args(["--metrics", &m.to_string()]);
        if let Some(w) = o.workers {
            cmd.args(["--workers", &w.to_string()]);
        }
        // The spool for -register (offered once operators are configured with --operators).
        cmd.arg("--spool").arg(spool);
        cmd.arg(db);
        let i = sup.spawn(&format!("whoisd-{n}"), cmd).map_err(spawn_err)?;
        let (mut w, mut r, mut hh, mut mm) = (None, None, None, None);
        sup.wait_for(i, READY, |l| {
            w = w.or_else(|| listening(l, "whois"));
            r = r.or_else(|| listening(l, "rwhois"));
            hh = hh.or_else(|| listening(l, "health"));
            mm = mm.or_else(|| listening(l, "metrics"));
            Some((w?, r?, hh?, mm?))
        })
        .map(|(w, r, hh, mm)| {
            whois = w;
            rwhois = r;
            health.push(hh);
            metrics.push(mm);
        })?;
    }
    let mut cmd = std::process::Command::new(format!("{bin}rdapd"));
    cmd.args(["--listen", &o.rdap.to_string()]);
    if o.rdap.port() != 0 {
        cmd.args(["--base-url", &format!("http://{}/", o.rdap)]);
    }
    cmd.arg(db);
    let i = sup.spawn("rdapd", cmd).map_err(spawn_err)?;
    let rdap = sup.wait_for(i, READY, |l| listening(l, "http"))?;
    let mut cmd = std::process::Command::new(format!("{bin}eppd"));
    cmd.args(["--listen", &o.epp.to_string()])
        .arg("--db")
        .arg(db)
        .arg("--spool")
        .arg(spool)
        .arg("--ca")
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("server.pem"))
        .arg("--key")
        .arg(certs.join("server.key"));
    let i = sup.spawn("eppd", cmd).map_err(spawn_err)?;
    // "eppd listening on ADDR (...)"
    let epp = sup.wait_for(i, READY, |l| {
        l.split_once("listening on ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })?;
    Ok(Addrs {
        whois,
        rwhois,
        health,
        metrics,
        rdap,
        epp,
    })
}

fn print_usage(log: &Log, a: &Addrs, spool: &Path, certs: &Path) {
    let (wh, wp) = (a.whois.ip(), a.whois.port());
    let c = certs.display();
    let mut text = format!(
        "ready whois={} rwhois={} rdap={} epp={} health={} metrics={}\n\
         \n\
         whois ({} clones sharing port {wp}):\n\
         \x20 whois -h {wh} -p {wp} test.coop\n\
         \x20 whois -h {wh} -p {wp} 'pop*'\n\
         \x20 RWhois: printf -- '-holdconnect on\\r\\ntest.coop\\r\\n-quit\\r\\n' | nc {} {}\n\
         \x20 health: {}\n\
         \x20 metrics (queries, answers, answer latency): {}\n\
         RDAP and the search page:\n\
         \x20 curl http://{}/domain/test.coop\n\
         \x20 curl 'http://{}/domains?name=pop*'\n\
         \x20 w3m http://{}/\n\
         EPP (RFC 5734 over TLS, client certificate required):\n\
         \x20 host {} port {}, server name localhost, CA {c}/ca.pem\n",
        a.whois,
        a.rwhois,
        a.rdap,
        a.epp,
        a.health
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        a.metrics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        a.health.len(),
        a.rwhois.ip(),
        a.rwhois.port(),
        a.health
            .iter()
            .map(|h| format!("nc {} {}", h.ip(), h.port()))
            .collect::<Vec<_>>()
            .join("; "),
        a.metrics
            .iter()
            .map(|m| format!("curl http://{m}/metrics"))
            .collect::<Vec<_>>()
            .join("; "),
        a.rdap,
        a.rdap,
        a.rdap,
        a.epp.ip(),
        a.epp.port(),
    );
    for (id, pw) in REGISTRARS {
        text.push_str(&format!(
            "  registrar {id}: password {pw}, certificate {c}/{id}.pem, key {c}/{id}.key\n"
        ));
    }
    text.push_str(&format!(
        "  e.g. openssl s_client -connect {} -cert {c}/ClientX.pem -key {c}/ClientX.key -CAfile {c}/ca.pem\n\
         Changes made over EPP are published by the loader (spool {spool}) and\n\
         answered by every clone within a second. Ctrl-C stops everything.",
        a.epp,
        spool = spool.display(),
    ));
    for l in text.lines() {
        log.say(l);
    }
}
