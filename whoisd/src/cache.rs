//! The answer cache of one worker: port-43 answers already rendered from the generation the
//! worker serves, so that a name asked again (popular names, monitoring, a registrar
//! checking its own domains) costs a hash, a comparison and a copy instead of the lookups
//! and the rendering (about eight records, each several cache misses on a large database).
//!
//! Sound because an answer depends on nothing but the generation, the query text and the
//! hit limit: rendering reads no clock and no per-client state. So the cache is
//! generation-scoped: it remembers which generation its answers came from (address and
//! number) and empties itself when asked about another one; the worker also empties it
//! when it switches. Each entry keeps the [`AnswerStats`] of its answer, so the server
//! counts answers and charges contact budgets exactly as for a fresh rendering.
//!
//! Bounded: a set-associative table (4 ways) whose entries hold at most
//! [`MAX_ENTRY_BYTES`] each, and a byte budget over all of them; when a set is full its
//! least recently used entry gives way, and an answer that does not fit the budget is simply
//! not kept. One cache per worker thread: no lock, no sharing.

use std::hash::{BuildHasher, Hasher};

use mkdb::Generation;
use mkdb::render::{AnswerOptions, AnswerStats, render_answer_stats};

/// Ways per set.
const WAYS: usize = 4;
/// Largest answer (with its query) kept; larger ones are rendered every time.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Bytes of budget per set of the table (the table has budget / this sets, at least one).
const BYTES_PER_SET: usize = 4 * 1024;

#[derive(Debug, Default)]
struct Entry {
    hash: u64,
    limit: usize,
    /// The query, then the answer.
    bytes: Box<[u8]>,
    query_len: usize,
    stats: AnswerStats,
    /// Last use (a counter of lookups); 0: empty.
    used: u64,
}

/// Rendered answers of one generation, bounded in bytes.
#[derive(Debug)]
pub struct AnswerCache {
    sets: Vec<[Entry; WAYS]>,
    budget: usize,
    bytes: usize,
    clock: u64,
    /// The generation the answers come from: its address and number.
    generation: Option<(usize, u64)>,
    /// Per-process random seed of the hash (so a client cannot aim its queries at a set).
    seed: u64,
    hits: u64,
    misses: u64,
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
            seed: {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(0x636f_6f70);
                h.finish() | 1
            },
            hits: 0,
            misses: 0,
        }
    }

    /// Forgets every answer (the worker switched generations).
    pub fn clear(&mut self) {
        if self.bytes > 0 || self.generation.is_some() {
            for set in &mut self.sets {
                *set = Default::default();
            }
        }
        self.bytes = 0;
        self.generation = None;
    }

    /// Bytes of answers held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lookups answered from the cache, and those rendered, since it was made.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
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
        let id = (std::ptr::from_ref(g) as usize, g.number);
        if self.generation != Some(id) {
            self.clear();
            self.generation = Some(id);
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
                e.used = self.clock;
                self.hits += 1;
                out.extend_from_slice(&e.bytes[e.query_len..]);
                return e.stats;
            }
        }
        self.misses += 1;
        let before = out.len();
        let stats = render_answer_stats(g, query, opts, out);
        let answer = &out[before..];
        let size = query.len() + answer.len();
        if size > MAX_ENTRY_BYTES {
            return stats;
        }
        // The least recently used way (an empty one first) gives way.
        let ways = &mut self.sets[set];
        let oldest = (1..WAYS).fold(0, |o, w| if ways[w].used < ways[o].used { w } else { o });
        let victim = &mut ways[oldest];
        self.bytes -= victim.bytes.len();
        *victim = Entry::default();
        if self.bytes + size > self.budget {
            return stats;
        }
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(query.as_bytes());
        bytes.extend_from_slice(answer);
        self.bytes += size;
        *victim = Entry {
            hash,
            limit,
            bytes: bytes.into_boxed_slice(),
            query_len: query.len(),
            stats,
            used: self.clock,
        };
        stats
    }
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
}
