//! The queries a load run sends: a weighted [`Mix`] of query kinds (`--mix exact=70,miss=10`)
//! and a [`QueryPool`] of real query lines per kind, sampled from a compiled MKDB generation
//! (or one fixed query). Drawing a query costs two random numbers and no allocation.

use std::fmt;

use mkdb::Generation;

/// A kind of query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// A domain name that exists: full domain record with contacts and name servers.
    Exact,
    /// A random domain name that does not exist: `No match`.
    Miss,
    /// `abc*`: domains starting with the first three characters of a real name.
    Prefix,
    /// `*xyz.coop`: domains ending like a real name.
    Suffix,
    /// `*xyz*`: infix scan over every domain key (expensive: about 0.2 s on 1M domains).
    Infix,
    /// `abc* and sponsoring-registrar=R`: a boolean query (milliseconds each).
    And,
    /// `abc* or xyz*`: a boolean union.
    Or,
    /// `contact <id>`.
    Contact,
    /// `nameserver <host name>`.
    Nameserver,
    /// `nameserver <ip address>`.
    NsIp,
    /// `registrar <name>`.
    Registrar,
}

impl QueryKind {
    /// Every kind, in report order.
    pub const ALL: [QueryKind; 11] = [
        QueryKind::Exact,
        QueryKind::Miss,
        QueryKind::Prefix,
        QueryKind::Suffix,
        QueryKind::Infix,
        QueryKind::And,
        QueryKind::Or,
        QueryKind::Contact,
        QueryKind::Nameserver,
        QueryKind::NsIp,
        QueryKind::Registrar,
    ];

    /// The name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Exact => "exact",
            QueryKind::Miss => "miss",
            QueryKind::Prefix => "prefix",
            QueryKind::Suffix => "suffix",
            QueryKind::Infix => "infix",
            QueryKind::And => "and",
            QueryKind::Or => "or",
            QueryKind::Contact => "contact",
            QueryKind::Nameserver => "nameserver",
            QueryKind::NsIp => "ns-ip",
            QueryKind::Registrar => "registrar",
        }
    }

    fn parse(name: &str) -> Option<QueryKind> {
        let name = name.trim().to_ascii_lowercase();
        let alias = match name.as_str() {
            "ns" | "host" => "nameserver",
            "nsip" | "ip" | "ns_ip" => "ns-ip",
            "hit" | "domain" => "exact",
            "nomatch" | "no-match" => "miss",
            other => other,
        };
        QueryKind::ALL.into_iter().find(|k| k.name() == alias)
    }
}

/// The default mix: mostly full domain records, some misses, a little of everything cheap.
/// Infix and boolean queries cost milliseconds and are left out unless asked for.
pub const DEFAULT_MIX: &str =
    "exact=80,miss=10,prefix=2,suffix=2,contact=3,nameserver=1,ns-ip=1,registrar=1";

/// Weights of query kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// Kinds with a weight above zero, in the order given.
    pub weights: Vec<(QueryKind, u32)>,
}

/// A `--mix` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixError(pub String);

impl fmt::Display for MixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MixError {}

impl Mix {
    /// Parses `kind=weight,...`; a kind without `=weight` weighs 1 (so `--mix exact` is a
    /// pure full-domain-record workload).
    pub fn parse(spec: &str) -> Result<Mix, MixError> {
        let names = || {
            QueryKind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut weights: Vec<(QueryKind, u32)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => {
                    let w = w.trim().parse::<u32>().map_err(|_| {
                        MixError(format!(
                            "--mix: weight of {:?} must be a whole number, got {w:?}",
                            n.trim()
                        ))
                    })?;
                    (n, w)
                }
                None => (part, 1),
            };
            let kind = QueryKind::parse(name).ok_or_else(|| {
                MixError(format!(
                    "--mix: unknown query kind {:?}; known: {}",
                    name.trim(),
                    names()
                ))
            })?;
            if weights.iter().any(|(k, _)| *k == kind) {
                return Err(MixError(format!("--mix: {} given twice", kind.name())));
            }
            if weight > 0 {
                weights.push((kind, weight));
            }
        }
        if weights.is_empty() {
            return Err(MixError(format!(
                "--mix: no query kind with a weight above 0 (e.g. `--mix exact=90,miss=10`; known: {})",
                names()
            )));
        }
        if weights.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() > u64::from(u32::MAX) {
            return Err(MixError("--mix: weights add up to more than 2^32".into()));
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, w)) in self.weights.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={w}", k.name())?;
        }
        Ok(())
    }
}

/// A small, fast pseudo-random generator (SplitMix64); not for anything secret.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Query lines (with CRLF) to draw from, per kind, with cumulative weights.
#[derive(Debug, Clone)]
pub struct QueryPool {
    kinds: Vec<(QueryKind, u64, Vec<Vec<u8>>)>,
    total: u64,
}

impl QueryPool {
    /// One fixed query (`--query`), sent every time.
    pub fn fixed(query: &str) -> QueryPool {
        let mut line = query.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
        line.extend_from_slice(b"\r\n");
        QueryPool {
            kinds: vec![(QueryKind::Exact, 1, vec![line])],
            total: 1,
        }
    }

    /// Pools from explicit query lists (tests, tools).
    pub fn from_lists(lists: Vec<(QueryKind, u32, Vec<String>)>) -> Result<QueryPool, MixError> {
        let mut kinds = Vec::new();
        let mut total = 0u64;
        for (kind, weight, queries) in lists {
            if weight == 0 {
                continue;
            }
            if queries.is_empty() {
                return Err(MixError(format!(
                    "the database has no records for query kind {}; drop it from --mix",
                    kind.name()
                )));
            }
            total += u64::from(weight);
            let lines = queries
                .into_iter()
                .map(|q| {
                    let mut l = q.into_bytes();
                    l.extend_from_slice(b"\r\n");
                    l
                })
                .collect();
            kinds.push((kind, total, lines));
        }
        if total == 0 {
            return Err(MixError("no queries to send".into()));
        }
        Ok(QueryPool { kinds, total })
    }

    /// Samples up to `per_kind` real queries of every kind in `mix` from a generation,
    /// spread evenly through the database; `seed` makes misses and picks repeatable.
    pub fn from_generation(
        g: &Generation,
        mix: &Mix,
        per_kind: usize,
        seed: u64,
    ) -> Result<QueryPool, MixError> {
        let mut rng = Rng::new(seed);
        let per_kind = per_kind.max(1);
        let mut lists = Vec::new();
        for &(kind, weight) in &mix.weights {
            let mut qs = sample(g, kind, per_kind, &mut rng)?;
            qs.retain(|q| mkdb::query::parse(&g.schema, q).is_ok());
            lists.push((kind, weight, qs));
        }
        QueryPool::from_lists(lists)
    }

    /// Draws a query line (ending in CRLF).
    pub fn draw(&self, rng: &mut Rng) -> &[u8] {
        let x = rng.below(self.total);
        let i = self.kinds.partition_point(|(_, cum, _)| *cum <= x);
        let (_, _, lines) = &self.kinds[i.min(self.kinds.len() - 1)];
        &lines[rng.below(lines.len() as u64) as usize]
    }

    /// Number of distinct queries per kind.
    pub fn sizes(&self) -> Vec<(QueryKind, usize)> {
        self.kinds.iter().map(|(k, _, l)| (*k, l.len())).collect()
    }

    /// Every query line of every kind.
    pub fn all_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.kinds
            .iter()
            .flat_map(|(_, _, l)| l.iter().map(Vec::as_slice))
    }
}

/// Values of `attr` (first of each record) in `class`, `n` of them spread evenly.
fn sample_values(g: &Generation, class: &str, attr: &str, n: usize) -> Vec<String> {
    let Some(c) = g.schema.class(class) else {
        return Vec::new();
    };
    let Some(a) = c.attr_by_tag(attr) else {
        return Vec::new();
    };
    let total = g.record_count(c.id) as usize;
    let step = (total / n.max(1)).max(1);
    let mut out = Vec::with_capacity(n.min(total));
    let mut i = 0usize;
    for &s in g.by_class.get(usize::from(c.id)).into_iter().flatten() {
        let Some(seg) = g.segments.get(s as usize) else {
            continue;
        };
        for rec in 0..seg.record_count() {
            if out.len() >= n {
                return out;
            }
            if i.is_multiple_of(step)
                && let Some(v) = seg.record(rec).values(a.id).next()
                && !v.trim().is_empty()
            {
                out.push(v.trim().to_string());
            }
            i += 1;
        }
    }
    out
}

fn first_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn last_chars(s: &str, n: usize) -> String {
    let v: Vec<char> = s.chars().collect();
    v[v.len().saturating_sub(n)..].iter().collect()
}

fn middle_chars(s: &str, n: usize) -> String {
    let v: Vec<char> = s.chars().collect();
    let start = (v.len().saturating_sub(n)) / 2;
    v[start..(start + n).min(v.len())].iter().collect()
}

/// The label of a domain name without its last label (`example` of `example.coop`).
fn label(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(l, _)| l)
}

fn sample(
    g: &Generation,
    kind: QueryKind,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<String>, MixError> {
    let names = || sample_values(g, "domain", "Domain-Name", n);
    let mut dedup = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        // Shuffle so that a prefix of the list is not all one region of the database.
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i as u64 + 1) as usize);
        }
        v
    };
    Ok(match kind {
        QueryKind::Exact => names(),
        QueryKind::Miss => {
            let domain = g
                .schema
                .class("domain")
                .ok_or_else(|| MixError("the database has no domain class".into()))?;
            let mut out = Vec::with_capacity(n);
            let mut tries = 0;
            while out.len() < n && tries < n * 4 {
                tries += 1;
                let name = format!("wl-miss-{:012x}.coop", rng.next_u64() >> 16);
                if g.find(domain.id, &name).is_none() {
                    out.push(name);
                }
            }
            out
        }
        QueryKind::Prefix => dedup(
            names()
                .iter()
                .filter(|s| s.chars().count() >= 8)
                .map(|s| format!("{}*", first_chars(s, 3)))
                .collect(),
        ),
        QueryKind::Suffix => dedup(
            names()
                .iter()
                .filter(|s| label(s).chars().count() >= 3)
                .map(|s| {
                    let tld = s.rsplit_once('.').map_or("", |(_, t)| t);
                    format!("*{}.{tld}", last_chars(label(s), 3))
                })
                .collect(),
        ),
        QueryKind::Infix => dedup(
            names()
                .iter()
                .filter(|s| label(s).chars().count() >= 5)
                .map(|s| format!("*{}*", middle_chars(label(s), 3)))
                .collect(),
        ),
        QueryKind::And => {
            let regs = sample_values(g, "domain", "Sponsoring-Registrar", n);
            names()
                .iter()
                .zip(regs.iter().cycle())
                .filter(|(s, r)| s.chars().count() >= 8 && !r.contains(char::is_whitespace))
                .map(|(s, r)| format!("{}* and sponsoring-registrar={r}", first_chars(s, 3)))
                .collect()
        }
        QueryKind::Or => {
            let v = names();
            v.iter()
                .zip(v.iter().rev())
                .filter(|(a, b)| a.chars().count() >= 8 && b.chars().count() >= 8)
                .map(|(a, b)| format!("{}* or {}*", first_chars(a, 4), first_chars(b, 4)))
                .collect()
        }
        QueryKind::Contact => sample_values(g, "contact", "Contact-ID", n)
            .into_iter()
            .map(|v| format!("contact {v}"))
            .collect(),
        QueryKind::Nameserver => sample_values(g, "nameserver", "Host-Name", n)
            .into_iter()
            .map(|v| format!("nameserver {v}"))
            .collect(),
        QueryKind::NsIp => sample_values(g, "nameserver", "IP-Address", n)
            .into_iter()
            .map(|v| format!("nameserver {v}"))
            .collect(),
        QueryKind::Registrar => sample_values(g, "registrar", "Registrar-Name", n)
            .into_iter()
            .map(|v| format!("registrar {v}"))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_weights_and_bare_kinds() {
        let m = Mix::parse("exact=70, miss=10,prefix=5").unwrap();
        assert_eq!(
            m.weights,
            vec![
                (QueryKind::Exact, 70),
                (QueryKind::Miss, 10),
                (QueryKind::Prefix, 5)
            ]
        );
        assert_eq!(
            Mix::parse("exact").unwrap().weights,
            vec![(QueryKind::Exact, 1)]
        );
        assert_eq!(
            Mix::parse("ns=2,ip=1,suffix=0").unwrap().weights,
            vec![(QueryKind::Nameserver, 2), (QueryKind::NsIp, 1)]
        );
        let d = Mix::parse(DEFAULT_MIX).unwrap();
        assert_eq!(d.weights.iter().map(|(_, w)| w).sum::<u32>(), 100);
        assert_eq!(Mix::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let e = Mix::parse("exact=70,bogus=3").unwrap_err().0;
        assert!(e.contains("bogus") && e.contains("known: exact"), "{e}");
        let e = Mix::parse("exact=lots").unwrap_err().0;
        assert!(e.contains("whole number"), "{e}");
        let e = Mix::parse("exact=0").unwrap_err().0;
        assert!(e.contains("above 0"), "{e}");
        assert!(Mix::parse("").is_err());
        assert!(Mix::parse("exact=1,exact=2").is_err());
        assert!(Mix::parse("exact=-1").is_err());
    }

    #[test]
    fn draw_follows_weights() {
        let pool = QueryPool::from_lists(vec![
            (QueryKind::Exact, 90, vec!["a.coop".into(), "b.coop".into()]),
            (QueryKind::Miss, 10, vec!["zz.coop".into()]),
        ])
        .unwrap();
        let mut rng = Rng::new(1);
        let n = 100_000;
        let misses = (0..n)
            .filter(|_| pool.draw(&mut rng) == b"zz.coop\r\n")
            .count();
        assert!((9_000..11_000).contains(&misses), "{misses}");
        assert_eq!(QueryPool::fixed("x.coop\n").draw(&mut rng), b"x.coop\r\n");
        assert!(QueryPool::from_lists(vec![(QueryKind::Contact, 1, vec![])]).is_err());
    }

    #[test]
    fn samples_real_queries_from_a_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (src, db) = (dir.path().join("src"), dir.path().join("db"));
        let opts = mkdb::synth::GenOptions {
            domains: 300,
            ..Default::default()
        };
        mkdb::synth::generate(&src, &opts, &mut |_| {}).unwrap();
        mkdb::compile(&src, &db, &mkdb::CompileOptions::default(), &|_, _| {}).unwrap();
        let g = Generation::open(&db).unwrap();
        let all = QueryKind::ALL
            .iter()
            .map(|k| format!("{}=1", k.name()))
            .collect::<Vec<_>>()
            .join(",");
        let pool = QueryPool::from_generation(&g, &Mix::parse(&all).unwrap(), 50, 7).unwrap();
        let sizes = pool.sizes();
        assert_eq!(sizes.len(), QueryKind::ALL.len(), "{sizes:?}");
        for (kind, _, lines) in &pool.kinds {
            for l in lines.iter().take(5) {
                let q = std::str::from_utf8(l).unwrap().trim_end();
                let hits = mkdb::query::parse(&g.schema, q)
                    .and_then(|p| g.execute(&p, 20))
                    .unwrap();
                assert_eq!(
                    hits.records.is_empty(),
                    *kind == QueryKind::Miss,
                    "{kind:?} {q:?}"
                );
            }
        }
    }
}
