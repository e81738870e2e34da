//! The answer cache of one worker: port-43 answers already rendered, so that a name asked
//! again (popular names, monitoring, a registrar checking its own domains) costs a hash, a
//! comparison and a copy instead of the lookups and the rendering (about eight records,
//! each several cache misses on a large database).
//!
//! Sound because an answer depends on nothing but the generation, the query text and the
//! hit limit: rendering reads no clock and no per-client state. Each entry keeps the
//! [`AnswerStats`] of its answer, so the server counts answers and charges contact budgets
//! exactly as for a fresh rendering.
//!
//! **Kept across generation switches.** `loader watch` publishes a small delta generation
//! every ~100 ms while changes flow; emptying the cache on each switch kept it cold. So an
//! entry also keeps what its answer read ([`mkdb::diff::Dependencies`]: hashes of the
//! primary keys looked up, the queried one included, so a cached "no match" goes when the
//! name is created; the "is it referenced" state of a contact shown; and a `scan` flag for
//! anything but an exact primary-key query). On a switch the worker hands over what changed
//! ([`AnswerCache::switch`]: the [`ChangedKeys`] the watcher computed off the event loop
//! with [`mkdb::diff::between`], one set per switch, or nothing: then everything goes).
//! Invalidation is lazy: the cache keeps the sets of its last [`HISTORY_SWITCHES`]
//! switches, each entry the switch count it was last confirmed at, and a hit is checked
//! against the sets published since (usually none or one small one): no work in proportion
//! to the cache on a switch. An entry that read a changed key, a `scan` entry after any
//! change of data, and an entry older than the history are dropped and rendered again.
//! The answer's last line names the generation, so entries hold the answer without it and
//! a hit appends the current one ([`mkdb::render::last_update_line`]).
//!
//! Bounded: a set-associative table (4 ways) whose entries (query, answer and dependency
//! hashes) hold at most [`MAX_ENTRY_BYTES`] each, and a byte budget over all of them; when
//! a set is full its least recently used entry gives way, and an answer that does not fit
//! the budget is simply not kept. The history is bounded in switches and in hashes. One
//! cache per worker thread: no lock, no sharing.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use mkdb::Generation;
use mkdb::diff::{ChangedKeys, Dependencies};
use mkdb::render::{
    AnswerOptions, AnswerStats, last_update_line, render_answer_deps, render_answer_stats,
};

/// Ways per set.
const WAYS: usize = 4;
/// Largest entry kept (query, answer and dependencies); larger ones are rendered every time.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Bytes of budget per set of the table (the table has budget / this sets, at least one).
const BYTES_PER_SET: usize = 4 * 1024;
/// Changed sets kept: an entry not confirmed during this many switches is dropped.
pub const HISTORY_SWITCHES: usize = 64;
/// Hashes kept in the history at most (older sets go first).
const HISTORY_HASHES: usize = 1 << 20;

#[derive(Debug, Default)]
struct Entry {
    hash: u64,
    limit: usize,
    /// The query, then the answer without its last-update line.
    bytes: Box<[u8]>,
    query_len: usize,
    /// What the answer read ([`mkdb::diff::dep_hash`]es, sorted, no repeats).
    deps: Box<[u64]>,
    /// The answer depends on a search: any change of data may change it.
    scan: bool,
    /// The switch count ([`AnswerCache::epoch`]) at which it was last known valid.
    checked: u64,
    stats: AnswerStats,
    /// Last use (a counter of lookups); 0: empty.
    used: u64,
}

impl Entry {
    /// Bytes charged to the budget.
    fn size(&self) -> usize {
        self.bytes.len() + self.deps.len() * size_of::<u64>()
    }
}

/// Lookups served from the cache, rendered, and dropped as changed, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Answered from the cache.
    pub hits: u64,
    /// Rendered (not cached, or dropped as changed).
    pub misses: u64,
    /// Entries found changed by a switch (each also counts as a miss).
    pub invalidated: u64,
}

/// Rendered answers, kept across generation switches while provably unchanged, bounded in
/// bytes.
#[derive(Debug)]
pub struct AnswerCache {
    sets: Vec<[Entry; WAYS]>,
    budget: usize,
    bytes: usize,
    clock: u64,
    /// The generation served: its address and number.
    generation: Option<(usize, u64)>,
    /// Its last-update line (the end of every answer).
    trailer: Vec<u8>,
    /// Switches kept across since the cache was last emptied.
    epoch: u64,
    /// What each of the last switches changed: (the epoch it led to, the set), oldest first.
    history: VecDeque<(u64, Arc<ChangedKeys>)>,
    /// Hashes held by `history`.
    history_hashes: usize,
    /// Scratch for the dependencies of the answer being rendered.
    deps: Dependencies,
    /// Per-process random seed of the hash (so a client cannot aim its queries at a set).
    seed: u64,
    counts: CacheCounts,
}

impl AnswerCache {
    /// A cache holding at most about `budget` bytes of answers (0: keeps nothing).
    pub fn new(budget: usize) -> AnswerCache {
        let sets = if budget == 0 {
            0
        } else {
            (budget / BYTES_PER_SET)
                .clamp(1, 1 << 20)
                .next_power_of_two()
        };
        AnswerCache {
            sets: (0..sets).map(|_| Default::default()).collect(),
            budget,
            bytes: 0,
            clock: 0,
            generation: None,
            trailer: Vec::new(),
            epoch: 0,
            history: VecDeque::new(),
            history_hashes: 0,
            deps: Dependencies::default(),
            seed: {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(0x636f_6f70);
                h.finish() | 1
            },
            counts: CacheCounts::default(),
        }
    }

    /// Forgets every answer.
    pub fn clear(&mut self) {
        if self.bytes > 0 || self.generation.is_some() {
            for set in &mut self.sets {
                *set = Default::default();
            }
        }
        self.bytes = 0;
        self.generation = None;
        self.trailer.clear();
        self.epoch = 0;
        self.history.clear();
        self.history_hashes = 0;
    }

    /// The worker switched to `g`. `changes`: what each switch since the generation served
    /// changed, in order ([`crate::live::LiveDb::changes`]); `None` (not known): every
    /// answer is forgotten. Costs nothing in proportion to the cache: entries are checked
    /// when next found.
    pub fn switch(&mut self, g: &Generation, changes: Option<&[Arc<ChangedKeys>]>) {
        match changes {
            Some(sets) if self.generation.is_some() => {
                for set in sets {
                    self.epoch += 1;
                    self.history_hashes += set.len();
                    self.history.push_back((self.epoch, Arc::clone(set)));
                }
                while self.history.len() > HISTORY_SWITCHES
                    || (self.history_hashes > HISTORY_HASHES && self.history.len() > 1)
                {
                    if let Some((_, old)) = self.history.pop_front() {
                        self.history_hashes -= old.len();
                    }
                }
            }
            _ => self.clear(),
        }
        self.serve(g);
    }

    /// Makes `g` the generation answers are completed for (its last-update line).
    fn serve(&mut self, g: &Generation) {
        self.generation = Some(id(g));
        self.trailer = last_update_line(g).into_bytes();
    }

    /// Bytes held (queries, answers, dependencies).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lookups answered from the cache, and those rendered, since it was made.
    pub fn counts(&self) -> (u64, u64) {
        (self.counts.hits, self.counts.misses)
    }

    /// Hits, misses and invalidations since it was made.
    pub fn stats(&self) -> CacheCounts {
        self.counts
    }

    /// Appends the answer of `g` to `query` (whois format, no banner, hit limit `limit`) to
    /// `out`, from the cache or rendered (and then kept if it fits), with its stats.
    pub fn answer(
        &mut self,
        g: &Generation,
        query: &str,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> AnswerStats {
        let opts = AnswerOptions {
            limit,
            banner: false,
        };
        if self.sets.is_empty() {
            return render_answer_stats(g, query, opts, out);
        }
        if self.generation != Some(id(g)) {
            // A generation the cache was not told about: nothing is known to hold.
            self.clear();
            self.serve(g);
        }
        let hash = hash(self.seed, query.as_bytes(), limit as u64);
        self.clock += 1;
        let set = (hash as usize) & (self.sets.len() - 1);
        for e in &mut self.sets[set] {
            if e.used != 0
                && e.hash == hash
                && e.limit == limit
                && e.bytes.get(..e.query_len) == Some(query.as_bytes())
            {
                if !still_valid(e, self.epoch, &self.history) {
                    self.bytes -= e.size();
                    *e = Entry::default();
                    self.counts.invalidated += 1;
                    break;
                }
                e.checked = self.epoch;
                e.used = self.clock;
                self.counts.hits += 1;
                out.extend_from_slice(&e.bytes[e.query_len..]);
                out.extend_from_slice(&self.trailer);
                return e.stats;
            }
        }
        self.counts.misses += 1;
        let before = out.len();
        let stats = render_answer_deps(g, query, opts, out, &mut self.deps);
        let Some(body) = out[before..].strip_suffix(self.trailer.as_slice()) else {
            return stats;
        };
        self.deps.hashes.sort_unstable();
        self.deps.hashes.dedup();
        let size = query.len() + body.len() + self.deps.hashes.len() * size_of::<u64>();
        if size > MAX_ENTRY_BYTES {
            return stats;
        }
        // The least recently used way (an empty one first) gives way.
        let ways = &mut self.sets[set];
        let oldest = (1..WAYS).fold(0, |o, w| if ways[w].used < ways[o].used { w } else { o });
        let victim = &mut ways[oldest];
        self.bytes -= victim.size();
        *victim = Entry::default();
        if self.bytes + size > self.budget {
            return stats;
        }
        let mut bytes = Vec::with_capacity(query.len() + body.len());
        bytes.extend_from_slice(query.as_bytes());
        bytes.extend_from_slice(body);
        *victim = Entry {
            hash,
            limit,
            bytes: bytes.into_boxed_slice(),
            query_len: query.len(),
            deps: self.deps.hashes.as_slice().into(),
            scan: self.deps.scan,
            checked: self.epoch,
            stats,
            used: self.clock,
        };
        self.bytes += victim.size();
        stats
    }
}

/// The identity of a generation: its address and number.
fn id(g: &Generation) -> (usize, u64) {
    (std::ptr::from_ref(g) as usize, g.number)
}

/// Does `e`, last confirmed at epoch `e.checked`, still hold at `epoch`? Only if the history
/// reaches back to the switch after it and none of those switches changed what it read.
fn still_valid(e: &Entry, epoch: u64, history: &VecDeque<(u64, Arc<ChangedKeys>)>) -> bool {
    if e.checked == epoch {
        return true;
    }
    let oldest = history.front().map_or(epoch + 1, |h| h.0);
    if e.checked + 1 < oldest {
        return false;
    }
    history
        .iter()
        .filter(|(at, _)| *at > e.checked)
        .all(|(_, set)| (!e.scan || set.is_empty()) && !set.any_of(&e.deps))
}

/// A fast keyed hash of a query and its limit (multiply-fold over 8-byte words). Not
/// collision-proof against a client that learns the seed, and it need not be: a collision
/// only shares a set of [`WAYS`] entries, and every hit is confirmed against the query.
fn hash(seed: u64, bytes: &[u8], limit: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| {
        let m = u128::from(h ^ w) * u128::from(K);
        (m as u64) ^ ((m >> 64) as u64)
    };
    let mut h = mix(seed, limit ^ ((bytes.len() as u64) << 32));
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix(h, u64::from_le_bytes(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> &'static Generation {
        crate::testutil::golden_db()
    }

    fn fresh(g: &Generation, q: &str, limit: usize) -> (Vec<u8>, AnswerStats) {
        let mut out = Vec::new();
        let opts = AnswerOptions {
            limit,
            banner: false,
        };
        let s = render_answer_stats(g, q, opts, &mut out);
        (out, s)
    }

    #[test]
    fn cached_answers_are_the_rendered_ones() {
        let g = db();
        let mut c = AnswerCache::new(1 << 20);
        let queries = [
            "test.coop",
            "TEST.coop",
            "domain test.coop",
            "contact CNT-1002",
            "nosuch.coop",
            "*.coop",
            "*a*b*",
            "registrar SAMPLE",
        ];
        for round in 0..3 {
            for q in queries {
                for limit in [1, 20] {
                    let mut out = b"before".to_vec();
                    let s = c.answer(g, q, limit, &mut out);
                    let (want, ws) = fresh(g, q, limit);
                    assert_eq!(&out[..6], b"before");
                    assert_eq!(&out[6..], &want[..], "{q} limit {limit} round {round}");
                    assert_eq!(s, ws, "{q}");
                }
            }
        }
        let (hits, misses) = c.counts();
        assert_eq!(misses, queries.len() as u64 * 2);
        assert_eq!(hits, queries.len() as u64 * 2 * 2);
        assert!(c.bytes() > 0);
    }

    #[test]
    fn bounded_and_disabled() {
        let g = db();
        // A budget smaller than one answer keeps nothing and still answers.
        let mut c = AnswerCache::new(10);
        for _ in 0..3 {
            let mut out = Vec::new();
            c.answer(g, "test.coop", 20, &mut out);
            assert_eq!(out, fresh(g, "test.coop", 20).0);
        }
        assert_eq!(c.bytes(), 0);
        assert_eq!(c.counts(), (0, 3));
        let mut off = AnswerCache::new(0);
        let mut out = Vec::new();
        off.answer(g, "test.coop", 20, &mut out);
        assert_eq!(out, fresh(g, "test.coop", 20).0);
        // Many distinct queries: the bytes held stay within the budget.
        let mut c = AnswerCache::new(64 * 1024);
        for i in 0..2000 {
            let mut out = Vec::new();
            c.answer(g, &format!("name{i}.coop"), 20, &mut out);
            assert!(c.bytes() <= 64 * 1024);
        }
        c.clear();
        assert_eq!(c.bytes(), 0);
    }

    fn changed(keys: &[(&str, &str)]) -> Arc<ChangedKeys> {
        let g = db();
        let hashes = keys
            .iter()
            .map(|(class, key)| {
                let c = g.schema.class(class).unwrap().id;
                mkdb::diff::dep_hash(mkdb::diff::DepKind::Record, c, key.as_bytes())
            })
            .collect();
        Arc::new(ChangedKeys::from_hashes(hashes))
    }

    fn ask(c: &mut AnswerCache, q: &str) -> Vec<u8> {
        let mut out = Vec::new();
        c.answer(db(), q, 20, &mut out);
        assert_eq!(out, fresh(db(), q, 20).0, "{q}");
        out
    }

    #[test]
    fn switches_keep_what_did_not_change() {
        let g = db();
        let mut c = AnswerCache::new(1 << 20);
        for q in ["test.coop", "poptel.coop", "nosuch.coop", "*.coop"] {
            ask(&mut c, q);
        }
        // Nothing changed: everything stays, the search included.
        c.switch(g, Some(&[changed(&[])]));
        for q in ["test.coop", "poptel.coop", "nosuch.coop", "*.coop"] {
            ask(&mut c, q);
        }
        assert_eq!(c.stats().hits, 4);
        // A contact poptel.coop joins (not test.coop's registrant), and the name asked
        // without a match, changed: those two and the search go, test.coop stays.
        c.switch(
            g,
            Some(&[changed(&[
                ("contact", "cnt-1012"),
                ("domain", "nosuch.coop"),
            ])]),
        );
        let before = c.stats();
        for q in ["test.coop", "poptel.coop", "nosuch.coop", "*.coop"] {
            ask(&mut c, q);
        }
        let after = c.stats();
        assert_eq!(after.hits - before.hits, 1);
        assert_eq!(after.invalidated - before.invalidated, 3);
        // A change of test.coop's registrant, two switches in one step.
        c.switch(
            g,
            Some(&[changed(&[]), changed(&[("contact", "cnt-1002")])]),
        );
        let before = c.stats();
        ask(&mut c, "test.coop");
        assert_eq!(c.stats().invalidated, before.invalidated + 1);
        // Not known: everything goes.
        c.switch(g, None);
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn entries_older_than_the_history_are_dropped() {
        let g = db();
        let mut c = AnswerCache::new(1 << 20);
        ask(&mut c, "test.coop");
        for _ in 0..HISTORY_SWITCHES {
            c.switch(g, Some(&[changed(&[])]));
        }
        ask(&mut c, "test.coop");
        assert_eq!(c.stats().hits, 1, "still within the history");
        for _ in 0..=HISTORY_SWITCHES {
            c.switch(g, Some(&[changed(&[])]));
        }
        ask(&mut c, "test.coop");
        assert_eq!(c.stats().invalidated, 1, "older than the history");
        assert!(c.history.len() <= HISTORY_SWITCHES);
    }
}
