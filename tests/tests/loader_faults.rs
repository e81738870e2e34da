//! `loader watch` when the disk fails it, with real conditions (no fault injection):
//!
//! - **full disk**: the database lives on a small tmpfs, filled up by a filler file while
//!   the loader follows the spool and whoisd serves (and, before that, while `loader
//!   compile`, `loader import` and `loader watch --once` run: exit 2, nothing changed);
//!   then the tmpfs is remounted read-only for a while;
//! - **unwritable directory**: the database directory is made read-only (`chmod 0555`;
//!   as root, the loader runs as `nobody` through `setpriv`, since root ignores modes).
//!
//! Each time: change files arrive while the condition lasts; the loader logs it once, with
//! what to do, and neither exits nor skips anything; whoisd keeps answering the last good
//! generation (asked over TCP); every generation that `CURRENT` names while it lasts opens
//! and verifies in full (a thread checks it all along); no unreferenced generation is left
//! behind. When the condition is cleared, the loader logs `recovered`, every change is in
//! whois exactly once (each creates a new domain: applying one twice would be refused),
//! nothing was refused, and after a final fold each domain is in the source tree exactly
//! once.
//!
//! The tmpfs needs `mount` (root), or else an unprivileged user namespace (`unshare
//! --mount --map-root-user`, in which the test runs again); without either the test fails
//! and says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Spool};
use tests::{KillOnDrop, Registry, Whoisd, binary};

/// Set in the environment of the test run again inside a private mount namespace.
const IN_NAMESPACE: &str = "LOADER_FAULTS_IN_NAMESPACE";

/// A tmpfs mounted on a directory, unmounted when dropped (declare it before the
/// processes using it, so that they are killed first).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size_kib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0755")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    /// `mount -o remount,bind,MODE` (`ro` or `rw`): the mount's own read-only flag,
    /// which a user namespace may change too.
    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,bind,{mode}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -o remount,bind,{mode} {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("--lazy").arg(&self.0).status();
        }
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// test.coop's record text with its name (and id) replaced: a new domain, put without a
/// base version, so that applying it twice is refused as a conflict.
fn new_domain(template: &str, i: u64) -> Change {
    let record: String = template
        .lines()
        .map(|l| {
            if l.starts_with("Domain-Name:") {
                format!("Domain-Name: fault{i}.coop\n")
            } else if l.starts_with("Domain-ID:") {
                format!("Domain-ID: {}-COOP\n", 900_000 + i)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    Change {
        action: Action::Put,
        class: "domain".into(),
        key: format!("fault{i}.coop"),
        base: None,
        record,
    }
}

fn template(db: &Path) -> String {
    let g = Generation::open(db).unwrap();
    let c = g.schema.class("domain").unwrap();
    let r = g.find(c.id, "test.coop").unwrap();
    let mut text = String::new();
    mkdb::record::for_each_record(g.record(r).text(), |rec| {
        text = mkdb::change::canonical(rec);
        Ok::<_, mkdb::record::SyntaxError>(())
    })
    .unwrap();
    text
}

/// Change files, as eppd writes them, each creating domain fault{seq}.coop.
struct Feeder {
    spool: Spool,
    template: String,
    next: u64,
}

impl Feeder {
    /// Appends to the spool `spool` (created if need be), from change 1, domains modelled
    /// on test.coop in `db`.
    fn new(spool: &Path, db: &Path) -> Feeder {
        Feeder {
            spool: Spool::open(spool).unwrap(),
            template: template(db),
            next: 1,
        }
    }

    fn submit(&mut self, n: u64) {
        for _ in 0..n {
            let seq = self.next;
            self.next += 1;
            self.spool
                .append(&ChangeFile {
                    sequence: seq,
                    origin: "loader_faults".into(),
                    time: "2026-11-23T06:00:00Z".into(),
                    changes: vec![new_domain(&self.template, seq)],
                })
                .expect("append to the spool");
        }
    }

    fn last(&self) -> u64 {
        self.next - 1
    }
}

/// Opens (and fully verifies) whatever `CURRENT` names, every few milliseconds, until
/// stopped: counts failures and checks that `applied` never goes back.
struct Checker {
    stop: Arc<AtomicBool>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    opened: Arc<AtomicU64>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Checker {
    fn start(db: &Path) -> Checker {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let opened = Arc::new(AtomicU64::new(0));
        let (s, f, o, db) = (
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&opened),
            db.to_path_buf(),
        );
        let handle = thread::spawn(move || {
            let mut applied = 0;
            while !s.load(Ordering::Relaxed) {
                match Generation::open(&db) {
                    Ok(g) => {
                        if g.applied < applied {
                            f.lock().unwrap().push(format!(
                                "generation {} has applied {} < {applied}",
                                g.number, g.applied
                            ));
                        }
                        applied = g.applied;
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => f.lock().unwrap().push(e.to_string()),
                }
                thread::sleep(Duration::from_millis(15));
            }
        });
        Checker {
            stop,
            failures,
            opened,
            handle: Some(handle),
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("checker thread");
        }
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "a generation named by CURRENT did not open: {failures:?}"
        );
        assert!(
            self.opened.load(Ordering::Relaxed) > 10,
            "checker never ran"
        );
    }
}

fn applied(db: &Path) -> u64 {
    mkdb::generation::current_manifest(db)
        .ok()
        .flatten()
        .map_or(0, |m| m.applied)
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn wait_until(what: &str, log: &Path, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; loader log:\n{}",
            read(log)
        );
        thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

/// How many records whois returns for fault{i}.coop (counted by their name line).
fn whois_count(whoisd: &Whoisd, i: u64) -> usize {
    whoisd
        .query(&format!("fault{i}.coop"))
        .matches(&format!("Domain Name: fault{i}.coop\r\n"))
        .count()
}

/// The loader as `nobody` when the test runs as root (root ignores directory modes).
fn loader_command(as_nobody: bool) -> Command {
    if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ])
        .arg(binary_for_nobody("loader"));
        c
    } else {
        Command::new(binary("loader"))
    }
}

/// The binary `name`, at a path `nobody` can execute: where cargo built it when every
/// directory above it lets others through (a checkout under /work, say), else a copy under
/// the temporary directory, made once per test process (a checkout under a private home
/// directory would otherwise fail here with "Permission denied").
fn binary_for_nobody(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let built = binary(name);
    let others_may = |p: &Path, bits: u32| {
        std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & bits == bits)
    };
    if others_may(&built, 0o005) && built.ancestors().skip(1).all(|d| others_may(d, 0o001)) {
        return built;
    }
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loader-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.join(name);
        std::fs::copy(&built, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    })
    .clone()
}

fn start_loader(as_nobody: bool, db: &Path, spool: &Path, src: &Path, log: &Path) -> KillOnDrop {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    loader_command(as_nobody)
        .args(["watch", "--interval-ms", "10", "--retry-max-ms", "800"])
        .args(["--compact-after", "3", "--fold-after-records", "8"])
        .arg("--src")
        .arg(src)
        .arg("--changes")
        .arg(spool)
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .map(KillOnDrop)
        .expect("start loader watch")
}

/// Generation directories CURRENT does not reach (numbers above it) and generation
/// staging directories: at most those of the one attempt in flight while publication
/// fails (a failed attempt removes what it made, so they do not pile up), none after.
fn unreached_generations(db: &Path) -> Vec<String> {
    let current = mkdb::generation::current_number(db).unwrap();
    std::fs::read_dir(db.join("generations"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') || name.parse::<u64>().is_ok_and(|n| n > current))
        .collect()
}

/// No unreached generation, no staging in `segments/`, no temporary file in the database
/// directory.
fn no_garbage_at_all(db: &Path) {
    let left = unreached_generations(db);
    assert!(left.is_empty(), "left behind: {left:?}");
    for dir in [db.to_path_buf(), db.join("segments")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".tmp-") && !name.starts_with(".staging-"),
                "left behind: {}",
                e.path().display()
            );
        }
    }
}

/// The domains fault{first..=last}.coop: each in whois exactly once.
fn each_once_in_whois(whoisd: &Whoisd, first: u64, last: u64, log: &Path) {
    for i in first..=last {
        let n = whois_count(whoisd, i);
        assert_eq!(
            n,
            1,
            "fault{i}.coop answered {n} times; loader log:\n{}",
            read(log)
        );
    }
}

/// Stops the loader, folds every delta into the source tree (`--once --fold-now`) and
/// checks each of fault1..=last is there exactly once, and nothing was refused.
fn each_once_in_source_tree(
    as_nobody: bool,
    reg: &Registry,
    db: &Path,
    spool: &Path,
    last: u64,
    log: &Path,
) {
    let out = loader_command(as_nobody)
        .args(["watch", "--once", "--fold-now", "--src"])
        .arg(&reg.src)
        .arg("--changes")
        .arg(spool)
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fold: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::new();
    for e in std::fs::read_dir(reg.src.join("data/domain"))
        .unwrap()
        .flatten()
    {
        text.push_str(&std::fs::read_to_string(e.path()).unwrap());
    }
    for i in 1..=last {
        let n = text
            .matches(&format!("Domain-Name: fault{i}.coop\n"))
            .count();
        assert_eq!(n, 1, "fault{i}.coop is {n} times in the source tree");
    }
    let rejected = spool.parent().unwrap().join("rejected");
    let refused: Vec<_> = std::fs::read_dir(&rejected)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        refused.is_empty(),
        "refused (applied twice?): {refused:?}\n{}",
        read(log)
    );
    assert_eq!(applied(db), last);
}

/// Lines of the log containing `needle`.
fn lines_with(log: &Path, needle: &str) -> Vec<String> {
    read(log)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Runs this test again inside `unshare --mount --map-root-user` (where it may mount).
fn rerun_in_namespace(test: &str, why: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--map-root-user", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(IN_NAMESPACE, "1")
        .output();
    let out = out.unwrap_or_else(|e| {
        panic!(
            "this test needs a tmpfs: `mount -t tmpfs` failed ({why}) and unshare cannot run \
             ({e}); run the tests as root, or allow unprivileged user namespaces"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the test inside `unshare --mount --map-root-user` failed (mounting directly: \
         {why}):\n{stdout}\n{stderr}\nThis test needs root, or unprivileged user namespaces, \
         to mount a tmpfs"
    );
}

/// Fills the file system holding `filler` to the last byte.
fn fill(filler: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0x55u8; 16 << 10];
    loop {
        match f.write_all(&chunk).and_then(|()| f.flush()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    // The last partial page too.
    while f.write_all(&[0x55]).is_ok() {}
}

/// On the full disk, `loader compile`, `loader import` and `loader watch --once` fail
/// with exit code 2 and a line saying what to do, and change nothing. Leaves change 1
/// pending in the spool.
fn one_shot_commands_on_a_full_disk(
    reg: &Registry,
    db: &Path,
    mnt: &Path,
    filler: &Path,
    feeder: &mut Feeder,
) {
    let import_spool = mnt.join("import-spool");
    std::fs::create_dir_all(&import_spool).unwrap();
    let edited = reg.dir.path().join("edited-domains.txt");
    let text = std::fs::read_to_string(reg.src.join("data/domain/domain-0000.txt")).unwrap();
    std::fs::write(
        &edited,
        text.replacen("Domain-Status: ok\n", "Domain-Status: clientHold\n", 1),
    )
    .unwrap();
    let before = std::fs::read_to_string(db.join("CURRENT")).unwrap();
    fill(filler);
    let advice = format!("free space on the file system holding {}", db.display());
    let check = |what: &str, out: std::process::Output, advice: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {out:?}");
        assert!(
            err.contains("No space left on device") && err.contains(advice),
            "{what}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
        err.into_owned()
    };
    let out = tests::run(
        "loader",
        &[
            "compile",
            "--full",
            reg.src.to_str().unwrap(),
            db.to_str().unwrap(),
        ],
    );
    let err = check("loader compile", out, &advice);
    assert!(
        err.contains("nothing was published; generation 1 is still served"),
        "{err}"
    );
    let out = tests::run(
        "loader",
        &[
            "import",
            "--db",
            db.to_str().unwrap(),
            "--changes",
            import_spool.to_str().unwrap(),
            "--class",
            "domain",
            "--wait",
            "0",
            edited.to_str().unwrap(),
        ],
    );
    let err = check(
        "loader import",
        out,
        &format!(
            "free space on the file system holding {}",
            import_spool.display()
        ),
    );
    assert!(err.contains("nothing was submitted"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&import_spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "WRITER.LOCK")
        .collect();
    assert!(left.is_empty(), "the failed import left {left:?}");
    feeder.submit(1);
    let spool = feeder.spool.dir().to_str().unwrap().to_owned();
    let out = tests::run(
        "loader",
        &["watch", "--once", "--changes", &spool, db.to_str().unwrap()],
    );
    let err = check("loader watch --once", out, &advice);
    assert!(err.contains("cannot publish changes 1-1"), "{err}");
    assert_eq!(std::fs::read_to_string(db.join("CURRENT")).unwrap(), before);
    assert_eq!(applied(db), 0);
    Generation::open(db).expect("the database as it was");
    no_garbage_at_all(db);
}

/// What a scenario works on: the registry, the database (in the full-disk test not
/// `reg.db` but one on the tmpfs), the spool the loader follows, the loader's log, whoisd
/// serving the database, and whether the loader runs as `nobody`.
struct Scene<'a> {
    reg: &'a Registry,
    db: &'a Path,
    spool: &'a Path,
    log: &'a Path,
    whoisd: Whoisd,
    as_nobody: bool,
}

impl<'a> Scene<'a> {
    /// Starts whoisd serving `db` (reloading every 10 ms, no RWhois), `loader watch`
    /// following `spool` into it (as `nobody` if `as_nobody`), and a checker opening every
    /// generation CURRENT names (bind them in that order, so that they are dropped in the
    /// reverse one).
    fn start(
        as_nobody: bool,
        reg: &'a Registry,
        db: &'a Path,
        spool: &'a Path,
        log: &'a Path,
    ) -> (Scene<'a>, KillOnDrop, Checker) {
        let whoisd = Whoisd::start(db, &["--reload-interval", "10ms", "--no-rwhois"]);
        let loader = start_loader(as_nobody, db, spool, &reg.src, log);
        let checker = Checker::start(db);
        let scene = Scene {
            reg,
            db,
            spool,
            log,
            whoisd,
            as_nobody,
        };
        (scene, loader, checker)
    }

    /// Waits (up to `timeout`) for a line of the loader log that contains `needle`.
    fn wait_for_log(&self, what: &str, needle: &str, timeout: Duration) {
        wait_until(what, self.log, timeout, || {
            !lines_with(self.log, needle).is_empty()
        });
    }

    /// Waits (up to `timeout`) until the database has applied every change up to `last`;
    /// returns how long that took.
    fn wait_applied(&self, what: &str, last: u64, timeout: Duration) -> Duration {
        wait_until(what, self.log, timeout, || applied(self.db) == last)
    }

    /// Waits (up to `timeout`) until whois answers fault{i}.coop exactly once.
    fn wait_in_whois(&self, what: &str, i: u64, timeout: Duration) {
        wait_until(what, self.log, timeout, || {
            whois_count(&self.whoisd, i) == 1
        });
    }

    /// While a fault lasts (from `since` until `duration` has passed, over several
    /// retries), checked every 100 ms: the last good generation, `served`, is served
    /// (change 1 is in whois, change 2 is not — else `published` —, CURRENT still names
    /// `served`, which applied change 1 only); what a failed attempt staged or moved in
    /// is removed, so at most the attempt in flight is left (failed attempts do not pile
    /// up); and `loader watch` has not exited.
    fn hold_while_faulty(
        &self,
        loader: &mut KillOnDrop,
        served: u64,
        since: Instant,
        duration: Duration,
        published: &str,
    ) {
        while since.elapsed() < duration {
            assert_eq!(whois_count(&self.whoisd, 1), 1);
            assert_eq!(whois_count(&self.whoisd, 2), 0, "{published}");
            assert_eq!(applied(self.db), 1);
            assert_eq!(mkdb::generation::current_number(self.db).unwrap(), served);
            let unreached = unreached_generations(self.db);
            assert!(
                unreached.len() <= 1,
                "failed attempts pile up: {unreached:?}"
            );
            assert!(
                loader.0.try_wait().unwrap().is_none(),
                "loader watch exited:\n{}",
                read(self.log)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Exactly one line of the loader log contains `needle` (`what` is reported once, not
    /// at every retry), and that line contains each of `expected`.
    fn reported_once(&self, needle: &str, what: &str, expected: &[&str]) {
        let reports = lines_with(self.log, needle);
        assert_eq!(
            reports.len(),
            1,
            "{what} should be reported once (not at every retry):\n{}",
            read(self.log)
        );
        let line = &reports[0];
        for e in expected {
            assert!(
                line.contains(e),
                "the report of {what} should say {e:?}: {line}"
            );
        }
    }

    /// Just after a fault that stops publication was caused: changes 2-6 are submitted;
    /// within 10 s the loader reports `what`, advising `advice`; for 2.5 s the last good
    /// generation is held (`hold_while_faulty`); the report is made once, and says each of
    /// `expected` and that whoisd keeps serving that generation. Returns its number.
    fn publication_fails(
        &self,
        loader: &mut KillOnDrop,
        feeder: &mut Feeder,
        what: &str,
        advice: &str,
        expected: &[&str],
    ) -> u64 {
        let served = mkdb::generation::current_number(self.db).unwrap();
        feeder.submit(5);
        let since = Instant::now();
        self.wait_for_log(
            &format!("the loader to report {what}"),
            advice,
            Duration::from_secs(10),
        );
        self.hold_while_faulty(
            loader,
            served,
            since,
            Duration::from_millis(2500),
            &format!("change 2 was published despite {what}"),
        );
        let keeps_serving = format!("whoisd keeps serving generation {served}");
        let mut expected = expected.to_vec();
        expected.push(&keeps_serving);
        self.reported_once("cannot publish changes 2-", what, &expected);
        served
    }

    /// Once the fault is cleared: every pending change up to `last` is published (within
    /// 5 s) in one generation after `served` (failed attempts did not use a number up),
    /// and the loader logs its recovery.
    fn recovers(&self, what: &str, last: u64, served: u64) {
        let took = self.wait_applied(what, last, Duration::from_secs(10));
        assert!(took < Duration::from_secs(5), "recovery took {took:?}");
        assert_eq!(
            mkdb::generation::current_number(self.db).unwrap(),
            served + 1,
            "failed attempts left a generation behind (used its number up)"
        );
        self.wait_for_log(
            "the loader to log its recovery",
            "publication recovered after",
            Duration::from_secs(2),
        );
    }

    /// Waits for whois to show the last change, then checks each of fault1..=last is in
    /// whois exactly once.
    fn every_change_in_whois(&self, last: u64) {
        self.wait_in_whois("whois to show every change", last, Duration::from_secs(5));
        each_once_in_whois(&self.whoisd, 1, last, self.log);
    }

    /// The end of a scenario: the loader is still running; it is stopped, and so is the
    /// checker (every generation CURRENT named opened); after a final fold each of
    /// fault1..=last is in the source tree once, nothing was refused, nothing is left
    /// behind.
    fn loader_survived(&self, mut loader: KillOnDrop, checker: Checker, last: u64) {
        assert!(
            loader.0.try_wait().unwrap().is_none(),
            "loader watch exited:\n{}",
            read(self.log)
        );
        loader.kill();
        checker.finish();
        each_once_in_source_tree(
            self.as_nobody,
            self.reg,
            self.db,
            self.spool,
            last,
            self.log,
        );
        no_garbage_at_all(self.db);
    }
}

/// Prints the loader log, and checks the whole test took less than `limit`.
fn took_less_than(started: Instant, limit: Duration, log: &Path) {
    eprintln!("loader log:\n{}", read(log));
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
}

#[test]
fn loader_full_disk_is_reported_retried_and_recovered_exactly_once() {
    let started = Instant::now();
    let reg = Registry::new(50);
    let mnt = reg.dir.path().join("small-disk");
    let tmpfs = match Tmpfs::mount(&mnt, 1536) {
        Ok(m) => m,
        Err(why) if std::env::var_os(IN_NAMESPACE).is_none() => {
            return rerun_in_namespace(
                "loader_full_disk_is_reported_retried_and_recovered_exactly_once",
                &why,
            );
        }
        Err(why) => panic!(
            "cannot mount a tmpfs even in a private user and mount namespace ({why}); this \
             test needs root or unprivileged user namespaces"
        ),
    };
    let db = mnt.join("db");
    mkdb::compile(
        &reg.src,
        &db,
        &mkdb::CompileOptions {
            threads: 1,
            ..Default::default()
        },
        &|_, _| {},
    )
    .expect("compile onto the tmpfs");
    let spool_dir = reg.dir.path().join("changes");
    let log = reg.dir.path().join("loader.log");
    let mut feeder = Feeder::new(&spool_dir, &db);
    let filler = mnt.join("filler");
    one_shot_commands_on_a_full_disk(&reg, &db, &mnt, &filler, &mut feeder);
    std::fs::remove_file(&filler).unwrap();

    let (s, mut loader, checker) = Scene::start(false, &reg, &db, &spool_dir, &log);

    // A good generation first (change 1, left pending by `--once` above).
    s.wait_in_whois("change 1 in whois", 1, Duration::from_secs(10));

    // Fill the disk: while it lasts (over several retries) the last good generation is
    // served.
    fill(&filler);
    let served = s.publication_fails(
        &mut loader,
        &mut feeder,
        "the full disk",
        &format!("free space on the file system holding {}", db.display()),
        &["No space left on device", "retries"],
    );

    // Free the disk: everything pending is published, once, in order.
    std::fs::remove_file(&filler).unwrap();
    s.recovers(
        "changes 2-6 after the disk was freed",
        feeder.last(),
        served,
    );
    // The file system remounted read-only (EROFS): reported, retried, recovered.
    tmpfs.remount("ro");
    feeder.submit(1);
    s.wait_for_log(
        "the loader to report the read-only file system",
        &format!(
            "remount the file system holding {} read-write",
            db.display()
        ),
        Duration::from_secs(10),
    );
    thread::sleep(Duration::from_millis(500));
    assert_eq!(whois_count(&s.whoisd, 7), 0);
    assert_eq!(applied(&db), 6);
    tmpfs.remount("rw");
    s.wait_applied("change 7 after remounting", 7, Duration::from_secs(5));
    // More changes after the recovery (a fold is due on the way).
    feeder.submit(3);
    s.wait_applied("changes 8-10", feeder.last(), Duration::from_secs(10));
    s.every_change_in_whois(feeder.last());
    s.loader_survived(loader, checker, feeder.last());
    drop(s); // whoisd, before the tmpfs it serves from
    drop(tmpfs);
    took_less_than(started, Duration::from_secs(20), &log);
}

/// `chmod -R` to `uid:gid` (through `chown`, which also follows no links).
fn chown(path: &Path, owner: &str) {
    let ok = Command::new("chown")
        .args(["-R", owner])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown -R {owner} {}", path.display());
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn loader_unwritable_directories_are_reported_retried_and_recovered_exactly_once() {
    let started = Instant::now();
    let as_nobody = is_root();
    let reg = Registry::new(50);
    let db = reg.db.clone();
    let spool_dir = reg.dir.path().join("changes");
    let log = reg.dir.path().join("loader.log");
    let mut feeder = Feeder::new(&spool_dir, &db);
    std::fs::create_dir_all(reg.dir.path().join("rejected")).unwrap();
    if as_nobody {
        // The loader runs as nobody: it owns what it writes, and can reach it.
        chmod(reg.dir.path(), 0o755);
        for p in [&db, &spool_dir, &reg.src, &reg.dir.path().join("rejected")] {
            chown(p, "65534:65534");
        }
    }
    let (s, mut loader, checker) = Scene::start(as_nobody, &reg, &db, &spool_dir, &log);

    feeder.submit(1);
    s.wait_in_whois("change 1 in whois", 1, Duration::from_secs(10));

    // The database directory made unwritable (CURRENT cannot be replaced). The segments
    // and generations directories are still writable: what a failed attempt staged or
    // moved in there is removed.
    chmod(&db, 0o555);
    let served = s.publication_fails(
        &mut loader,
        &mut feeder,
        "the unwritable directory",
        &format!("make {} writable", db.display()),
        &["Permission denied"],
    );

    chmod(&db, 0o755);
    s.recovers("changes 2-6 after chmod 0755", feeder.last(), served);
    // The source tree unwritable while a fold is due (more than 8 delta records): the
    // fold is published (the database does not depend on the tree), its write-back is
    // reported and retried, deltas go on.
    let data = reg.src.join("data/domain");
    chmod(&data, 0o555);
    feeder.submit(4);
    s.wait_applied("changes 7-10", feeder.last(), Duration::from_secs(10));
    s.wait_for_log(
        "the loader to report the unwritable source tree",
        &format!("make {} writable", data.display()),
        Duration::from_secs(10),
    );
    let write_back = "source tree: cannot write folded records back";
    s.reported_once(write_back, "the unwritable source tree", &[]);
    feeder.submit(2);
    s.wait_applied("changes 11-12", feeder.last(), Duration::from_secs(10));
    s.every_change_in_whois(feeder.last());
    // Several retries, one report.
    thread::sleep(Duration::from_millis(1200));
    s.reported_once(write_back, "the unwritable source tree", &[]);
    chmod(&data, 0o755);
    s.wait_for_log(
        "the write-back after chmod 0755",
        "source tree: write-back recovered after",
        Duration::from_secs(5),
    );
    s.loader_survived(loader, checker, feeder.last());
    took_less_than(started, Duration::from_secs(20), &log);
}
