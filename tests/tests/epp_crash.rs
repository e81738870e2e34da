//! `kill -9` durability of eppd: registrar sessions create domains (the bench crate's EPP
//! client, `bench::epp`), eppd is killed with SIGKILL mid-load and restarted, three times;
//! after the last restart every create that was acknowledged (1000) must be answered by
//! `<domain:info>`, be created in exactly one change file, and every change file in the
//! spool must read (none half-written). `bench/run-epp-kill` does the same at length.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::epp::provision::{self, DEFAULT_PASSWORD};
use bench::epp::run::{self, Acked, LoadConfig, Mix, Registrar};
use tests::{Eppd, Registry};

const KILLS: usize = 3;

/// eppd's arguments beyond the defaults: the load's sessions.
const EXTRA: &[&str] = &["--max-sessions", "20"];

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete.lines().map(str::to_string).collect()
}

#[test]
fn acknowledged_creates_survive_kill_9() {
    let started = Instant::now();
    let reg = Registry::new(200);
    let certs = reg.dir.path().join("certs");
    let names = provision::names(2);
    provision::provision(&reg.src, &certs, &names, DEFAULT_PASSWORD).expect("provision");
    reg.compile();
    let registrars: Vec<Registrar> = names
        .iter()
        .map(|id| Registrar {
            id: id.clone(),
            password: DEFAULT_PASSWORD.into(),
            tls: bench::epp::tls_config(
                &certs.join("ca.pem"),
                &certs.join(format!("{id}.pem")),
                &certs.join(format!("{id}.key")),
            )
            .expect("client TLS"),
        })
        .collect();
    let spool = reg.dir.path().join("changes");
    let acked_path = reg.dir.path().join("acked.txt");
    let acked = Arc::new(Acked::open(&acked_path).unwrap());
    let mut rng = bench::load::mix::Rng::new(u64::from(std::process::id()));

    for round in 0..KILLS {
        let eppd = Eppd::start(&reg.db, &certs, &spool, EXTRA);
        let cfg = LoadConfig {
            target: eppd.addr,
            registrars: registrars.clone(),
            sessions: 4,
            duration: Duration::from_secs(60),
            warmup: Duration::ZERO,
            baseline: None,
            mix: Mix::parse("create").unwrap(),
            timeout: Duration::from_secs(10),
            acked: Some(acked.clone()),
            seed: round as u64,
            token: run::run_token(),
        };
        let before = lines(&acked_path).len();
        let load = std::thread::spawn(move || run::run(&cfg));
        // Kill mid-load: once creates are being acknowledged, after 0.2 to 1 s more.
        let deadline = Instant::now() + Duration::from_secs(20);
        while lines(&acked_path).len() == before {
            assert!(
                Instant::now() < deadline && !load.is_finished(),
                "round {round}: no create acknowledged within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
        eppd.kill9();
        let out = load.join().expect("load thread").expect("load ran");
        assert!(
            out.target.io_errors > 0,
            "round {round}: the sessions did not see eppd die"
        );
    }

    let acked = lines(&acked_path);
    assert!(
        acked.len() >= KILLS,
        "only {} creates acknowledged",
        acked.len()
    );
    let eppd = Eppd::start(&reg.db, &certs, &spool, EXTRA);
    let missing = run::verify(
        eppd.addr,
        &registrars[0],
        &acked,
        2,
        Duration::from_secs(10),
    )
    .expect("verify");
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged creates lost after kill -9: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    let check = run::check_spool(&spool, &acked).expect("read the spool");
    assert!(
        check.ok(),
        "spool after kill -9: unreadable {:?}, never created {:?}, created twice {:?}",
        check.unreadable,
        check.missing,
        check.duplicated
    );
    assert!(check.creates >= acked.len(), "{check:?}");
    eprintln!(
        "{} acknowledged creates over {KILLS} kills, all found; {} change files, {} temporary \
         files left; {:.1} s",
        acked.len(),
        check.files,
        check.temporary,
        started.elapsed().as_secs_f64()
    );
}
