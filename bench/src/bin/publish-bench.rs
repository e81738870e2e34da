//! `publish-bench`: the cost of publishing changes, for `bench/run-publish`.
//!
//! - `publish`: publishes N single-change delta generations one after another into a
//!   database (each a put of one domain record, based on its version, as eppd writes
//!   them) and reports the time of each publication (`mkdb::delta::publish_changes`:
//!   lock, check, segment, fsyncs, manifest, `CURRENT`) and of opening the new generation
//!   beside the previous one (what whoisd does to switch), p50 / p99 / max.
//! - `feed`: appends change files to a spool at a steady rate (each a put of one of a
//!   pool of domains, chained on the version it wrote before), for `loader watch` to
//!   publish while whois-load measures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Spool, Version, canonical, version_of};
use mkdb::compact::{self, Kind};
use mkdb::delta::publish_changes;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "publish-bench",
    about = "Publication cost of MKDB delta generations"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Publish N single-change generations into DB and report their times (JSON).
    Publish {
        /// Database directory (compiled; it is changed: use a copy).
        db: PathBuf,
        /// Publications.
        #[arg(long, short = 'n', default_value_t = 300)]
        count: usize,
        /// Merge the deltas (`mkdb::compact`, kind merge) after every M publications, as
        /// `loader watch --compact-after M` would (0: never).
        #[arg(long, default_value_t = 32)]
        merge_every: usize,
        /// Generations kept.
        #[arg(long, default_value_t = 3)]
        keep: usize,
    },
    /// Append change files to SPOOL at RATE per second for SECS seconds.
    Feed {
        /// Database directory (to read the records changed).
        #[arg(long)]
        db: PathBuf,
        /// The spool `loader watch` follows.
        #[arg(long)]
        changes: PathBuf,
        /// Change files per second.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// How long.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Domains changed in turn.
        #[arg(long, default_value_t = 500)]
        pool: usize,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
        /// Send nothing while this file exists (the schedule restarts when it goes).
        #[arg(long, value_name = "FILE")]
        pause_file: Option<PathBuf>,
        /// Stop when this file appears.
        #[arg(long, value_name = "FILE")]
        stop_file: Option<PathBuf>,
    },
}

/// `n` domain records spread over the database: (canonical text, version).
fn sample_domains(g: &Generation, n: usize) -> Vec<(String, String, Version)> {
    let c = g.schema.class("domain").expect("a domain class");
    let segs: Vec<u32> = g.by_class[usize::from(c.id)]
        .iter()
        .copied()
        .filter(|&s| !g.entries[s as usize].delta)
        .collect();
    let total: u64 = segs
        .iter()
        .map(|&s| u64::from(g.segments[s as usize].record_count()))
        .sum();
    let step = (total / n.max(1) as u64).max(1);
    let mut out = Vec::new();
    let mut i = 0u64;
    'outer: for &s in &segs {
        let seg = &g.segments[s as usize];
        while i < u64::from(seg.record_count()) {
            let r = mkdb::RecordRef {
                seg: s,
                rec: i as u32,
            };
            i += step;
            if !g.is_live(r) {
                continue;
            }
            let Some(name) = g.record(r).first(c.primary_key) else {
                continue;
            };
            let mut text = String::new();
            let _ = mkdb::record::for_each_record(g.record(r).text(), |rec| {
                text = canonical(rec);
                Ok::<_, mkdb::record::SyntaxError>(())
            });
            let v = version_of(&text);
            out.push((name.to_owned(), text, v));
            if out.len() == n {
                break 'outer;
            }
        }
        i -= u64::from(seg.record_count());
    }
    out
}

/// The record with its status flipped between ok and clientHold.
fn flipped(text: &str) -> String {
    text.lines()
        .map(|l| match l {
            "Domain-Status: ok" => "Domain-Status: clientHold\n".to_owned(),
            "Domain-Status: clientHold" => "Domain-Status: ok\n".to_owned(),
            _ => format!("{l}\n"),
        })
        .collect()
}

fn put(name: &str, base: Version, record: String, sequence: u64) -> ChangeFile {
    ChangeFile {
        sequence,
        origin: "publish-bench".into(),
        time: mkdb::generation::rfc3339_now(),
        changes: vec![Change {
            action: Action::Put,
            class: "domain".into(),
            key: name.to_owned(),
            base: Some(base),
            record,
        }],
    }
}

fn percentiles(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    json!({
        "n": v.len(),
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": v[v.len() - 1],
        "mean_ms": v.iter().sum::<f64>() / v.len() as f64,
    })
}

fn publish(
    db: &std::path::Path,
    count: usize,
    merge_every: usize,
    keep: usize,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut current = Generation::open(db)?;
    let open_full = t.elapsed();
    let domain = current.schema.class("domain").expect("domain").id;
    let domains = current.record_count(domain);
    let mut pool = sample_domains(&current, count.min(10_000));
    anyhow::ensure!(!pool.is_empty(), "no domains in {}", db.display());
    let (mut pub_ms, mut open_ms, mut merge_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut seq = current.applied;
    for i in 0..count {
        let k = i % pool.len();
        let (name, text, base) = pool[k].clone();
        let next = flipped(&text);
        seq += 1;
        let f = put(&name, base, next.clone(), seq);
        let t = Instant::now();
        let r = publish_changes(db, Some(&current), &[f], keep)?;
        pub_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(r.rejected.is_empty(), "refused: {:?}", r.rejected);
        let t = Instant::now();
        current = Generation::open_reusing(db, Some(&current))?;
        open_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        pool[k] = (name, next.clone(), version_of(&next));
        if merge_every > 0 && (i + 1) % merge_every == 0 {
            let t = Instant::now();
            if let Some(p) = compact::prepare(db, None, &current, Kind::Merge)? {
                compact::publish(db, None, p, Some(&current), keep)?;
            }
            merge_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            current = Generation::open_reusing(db, Some(&current))?;
        }
    }
    let out = json!({
        "db": db.display().to_string(),
        "domains": domains,
        "publications": count,
        "merge_every": merge_every,
        "open_full_verify_ms": open_full.as_secs_f64() * 1000.0,
        "publish": percentiles(pub_ms),
        "open_next": percentiles(open_ms),
        "merge": if merge_ms.is_empty() { serde_json::Value::Null } else { percentiles(merge_ms) },
        "deltas_at_end": compact::delta_load(&current).segments,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn feed(
    db: &std::path::Path,
    changes: &std::path::Path,
    rate: f64,
    secs: f64,
    pool: usize,
    print_json: bool,
    pause: Option<&std::path::Path>,
    stop: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let g = Generation::open(db)?;
    let spool = Spool::open(changes)?;
    // Live records only: their versions are current, and this feeder is their only
    // writer from now on, so it chains each change on the version it wrote before.
    let mut pool = sample_domains(&g, pool);
    drop(g);
    anyhow::ensure!(!pool.is_empty(), "no domains");
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut sent = 0usize;
    let (mut epoch, mut since) = (Instant::now(), 0usize);
    let exists = |p: Option<&std::path::Path>| p.is_some_and(std::path::Path::exists);
    while start.elapsed().as_secs_f64() < secs && !exists(stop) {
        if exists(pause) {
            std::thread::sleep(Duration::from_millis(5));
            (epoch, since) = (Instant::now(), sent);
            continue;
        }
        let due = epoch + period * (sent - since) as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let k = sent % pool.len();
        let (name, text, base) = pool[k].clone();
        let next = flipped(&text);
        let mut f = put(&name, base, next.clone(), 0);
        spool.append_next(&mut f)?;
        pool[k] = (name, next.clone(), version_of(&next));
        sent += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if print_json {
        println!(
            "{}",
            json!({"sent": sent, "secs": elapsed, "rate": sent as f64 / elapsed})
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Publish {
            db,
            count,
            merge_every,
            keep,
        } => publish(&db, count.max(1), merge_every, keep.max(1)),
        Cmd::Feed {
            db,
            changes,
            rate,
            secs,
            pool,
            json,
            pause_file,
            stop_file,
        } => feed(
            &db,
            &changes,
            rate,
            secs,
            pool.max(1),
            json,
            pause_file.as_deref(),
            stop_file.as_deref(),
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("publish-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
