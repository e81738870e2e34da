//! Synthetic registry source trees for demos, tests and benchmarks (`mkdb gen`).
//!
//! [`generate`] writes a complete MKDB *source tree* for a made-up but realistic .coop
//! registry: registrars, contacts, name servers and domains in the MKDB text format
//! (`Tag: value` lines, a `---` line after every record, attributes in schema order), every
//! record valid against the shipped schemas and every reference resolvable.
//!
//! # What it writes
//!
//! Each class's first file begins with the sample objects of the .coop Public Whois
//! Specification, adapted to the schema formats: the domain `test.coop` (Domain-ID
//! `400032-COOP`), the registrar `REG-42` named `SAMPLE` (and `REG-43`, `REG-44`, which the
//! sample names as updater and gaining registrar), the contacts `CNT-1002` to `CNT-1005`
//! (registrant, admin, tech, billing) and `CNT-1010` to `CNT-1014` (the registrar's
//! contacts), and the hosts `dns0.nic.coop` (10.10.10.10) and `dns1.nic.coop`.
//!
//! Then come the random objects: about `20 + N/50_000` registrars (at most 500) with Zipf-like
//! market shares; a few sponsor federations; a pool of hosting providers whose name servers are
//! shared by many domains (some under `.coop`, whose own `-dns.coop` domains are part of the
//! N domains); and N domains named from cooperative-sounding word lists (about 2% IDN, stored as
//! A-labels), each with a registrant (some owning several domains), admin, tech and billing
//! contacts that are the registrant, a registrar-wide shared contact or a dedicated person,
//! 0 to 4 name servers (about 10% with their own in-bailiwick hosts, often on IP addresses
//! shared by many hosts), EPP statuses, dates between 2001 and 2026 and transfers.
//! Expect roughly 1.4 contacts and 0.15 name servers per domain, plus the shared objects.
//!
//! # Determinism
//!
//! Everything is drawn from a xoshiro256** generator written in this file and seeded with
//! [`GenOptions::seed`], and no clock is read (dates are relative to a fixed 2026-03-01), so
//! the same seed, domain count and records-per-file give a byte-identical tree on every
//! machine and every version of the dependencies. Domain names are unique by construction
//! (a seeded permutation over each name pattern, then numbered rounds), so memory stays
//! proportional to the shared objects (registrars, providers), not to the output.
//!
//! # Layout
//!
//! ```text
//! OUT_DIR/schema/<class>.schema                 copies of the shipped schemas
//! OUT_DIR/data/registrar/registrar-0000.txt
//! OUT_DIR/data/contact/contact-0000.txt, contact-0001.txt, ...
//! OUT_DIR/data/nameserver/nameserver-0000.txt, ...
//! OUT_DIR/data/domain/domain-0000.txt, ...
//! ```
//!
//! Each data file holds at most [`GenOptions::records_per_file`] records and starts with a `#`
//! line naming the command and seed that made it. [`generate`] refuses to write into an
//! `OUT_DIR` that already has a `data` directory.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::schema::SHIPPED_SCHEMAS;

/// Seed used when none is given ("COOP SEED").
const DEFAULT_SEED: u64 = 0xC00F_5EED;
/// Records per data file when not told otherwise.
const DEFAULT_RECORDS_PER_FILE: usize = 250_000;
/// How often (in domains) the progress callback is called.
const PROGRESS_EVERY: u64 = 10_000;
/// Write buffer per open data file.
const WRITE_BUFFER: usize = 256 * 1024;

const DAY: i64 = 86_400;
/// The specification's sample date, 2001-05-05T00:00:00Z: nothing is created before it.
const T_FIRST: i64 = days_from_civil(2001, 5, 5) * DAY;
/// The fixed "now" of the generated registry, 2026-03-01T00:00:00Z.
const T_NOW: i64 = days_from_civil(2026, 3, 1) * DAY;

/// Options for [`generate`].
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of domain records to write, including the specification's `test.coop` (so at
    /// least one is always written).
    pub domains: u64,
    /// Seed of the pseudo-random generator: the same seed and options give a byte-identical
    /// tree.
    pub seed: u64,
    /// Most records in one data file (at least 1); further records go to the next file.
    pub records_per_file: usize,
}

impl Default for GenOptions {
    /// 1000 domains, seed `0xC00F5EED`, 250 000 records per file.
    fn default() -> Self {
        GenOptions { domains: 1000, seed: DEFAULT_SEED, records_per_file: DEFAULT_RECORDS_PER_FILE }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct GenSummary {
    /// Domain records written.
    pub domains: u64,
    /// Contact records written.
    pub contacts: u64,
    /// Nameserver records written.
    pub nameservers: u64,
    /// Registrar records written.
    pub registrars: u64,
    /// Every file written, schema copies first, then the data files class by class.
    pub files: Vec<PathBuf>,
    /// Total bytes written, schema copies included.
    pub bytes: u64,
}

/// Errors, each carrying the path involved.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The output directory already has a `data` directory.
    #[error(
        "{} already exists: mkdb gen never writes over a source tree; remove it or give \
         another output directory",
        .path.display()
    )]
    OutputExists {
        /// The existing `data` directory.
        path: PathBuf,
    },
    /// Creating a directory or writing a file failed.
    #[error(
        "cannot write {}: {source}; check that the directory is writable and the disk has room",
        .path.display()
    )]
    Io {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The options cannot be honoured.
    #[error("cannot generate into {}: {reason}", .path.display())]
    InvalidOptions {
        /// The output directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An internationalized name did not convert to an A-label (a bug in the word lists).
    #[error(
        "cannot convert {name} to an A-label while writing {}: {reason}; this is a bug in \
         the generator's word lists, please report it",
        .path.display()
    )]
    Idna {
        /// The domain file being written.
        path: PathBuf,
        /// The U-label form of the name.
        name: String,
        /// What the IDNA conversion reported.
        reason: String,
    },
}

fn io_err(path: &Path, source: io::Error) -> GenError {
    GenError::Io { path: path.to_path_buf(), source }
}

/// Writes the tree. `progress` is called now and then with the number of domains written so
/// far (and once at the end with the total).
///
/// On error the tree is left partly written; remove `OUT_DIR/data` before trying again.
pub fn generate(
    out_dir: &Path,
    opts: &GenOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<GenSummary, GenError> {
    if opts.records_per_file == 0 {
        return Err(GenError::InvalidOptions {
            path: out_dir.to_path_buf(),
            reason: "records per file must be at least 1".to_string(),
        });
    }
    let data_dir = out_dir.join("data");
    if fs::symlink_metadata(&data_dir).is_ok() {
        return Err(GenError::OutputExists { path: data_dir });
    }
    let mut summary = GenSummary::default();
    let schema_dir = out_dir.join("schema");
    fs::create_dir_all(&schema_dir).map_err(|e| io_err(&schema_dir, e))?;
    for (class, text) in SHIPPED_SCHEMAS {
        let path = schema_dir.join(format!("{class}.schema"));
        fs::write(&path, text).map_err(|e| io_err(&path, e))?;
        summary.bytes += text.len() as u64;
        summary.files.push(path);
    }
    fs::create_dir(&data_dir).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            GenError::OutputExists { path: data_dir.clone() }
        } else {
            io_err(&data_dir, e)
        }
    })?;
    let mut g = Gen::new(&data_dir, opts)?;
    g.run(progress)?;
    g.finish(summary)
}

// ---------------------------------------------------------------------------------------------
// Pseudo-random numbers.

/// One step of splitmix64, used to seed [`Rng`].
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The splitmix64 finalizer: a fast 64-bit bijective hash.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** (Blackman and Vigna), seeded through splitmix64.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut st = seed;
        Rng { s: [splitmix(&mut st), splitmix(&mut st), splitmix(&mut st), splitmix(&mut st)] }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// A time in `lo..hi` (seconds), or `lo` when the span is empty.
    fn time_between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + self.below((hi - lo) as u64) as i64 }
    }
}

/// Cumulative weights for weighted picks.
#[derive(Debug, Clone)]
struct Weighted {
    cum: Vec<u64>,
}

impl Weighted {
    fn new(weights: impl IntoIterator<Item = u64>) -> Weighted {
        let mut total = 0;
        let cum = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Weighted { cum }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cum.last().copied().unwrap_or(0);
        let x = rng.below(total);
        self.cum.partition_point(|&c| c <= x).min(self.cum.len().saturating_sub(1))
    }
}

/// A seeded permutation of `0..n`: a 4-round Feistel network on the smallest even number of
/// bits covering `n`, with cycle walking.
#[derive(Debug, Clone)]
struct Perm {
    n: u64,
    half_bits: u32,
    mask: u64,
    key: u64,
}

impl Perm {
    fn new(n: u64, key: u64) -> Perm {
        let mut half_bits = 1;
        while half_bits < 31 && (1u64 << (2 * half_bits)) < n {
            half_bits += 1;
        }
        Perm { n, half_bits, mask: (1u64 << half_bits) - 1, key }
    }

    /// The image of `x` (< n) under the permutation keyed by `round`.
    fn apply(&self, x: u64, round: u64) -> u64 {
        let k = mix64(self.key ^ round.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut y = x;
        loop {
            let mut l = y >> self.half_bits;
            let mut r = y & self.mask;
            for i in 0..4u64 {
                let f = mix64(r ^ k.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) & self.mask;
                let next = l ^ f;
                l = r;
                r = next;
            }
            y = (l << self.half_bits) | r;
            if y < self.n {
                return y;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dates (proleptic Gregorian, UTC, seconds since the Unix epoch).

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// `t` moved `n` years on (29 February becomes 28 February in common years).
fn add_years(t: i64, n: i64) -> i64 {
    let (y, m, mut d) = civil_from_days(t.div_euclid(DAY));
    if m == 2 && d == 29 && !is_leap(y + n) {
        d = 28;
    }
    days_from_civil(y + n, m, d) * DAY + t.rem_euclid(DAY)
}

/// Appends `t` as RFC 3339 UTC, e.g. `2004-03-17T09:21:05Z`.
fn push_date(buf: &mut String, t: i64) {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY);
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, s / 3600);
    put(14, 2, s / 60 % 60);
    put(17, 2, s % 60);
    buf.extend(b.iter().map(|&c| char::from(c)));
}

// ---------------------------------------------------------------------------------------------
// Word lists. ASCII lists hold lowercase a-z words only, pairwise disjoint (checked by tests).

/// Places, landscape and adjectives: the first word of most names.
const PRE: &[&str] = &[
    "acorn", "alder", "alpine", "amber", "anchor", "aspen", "atlantic", "autumn", "bay", "beacon",
    "birch", "blue", "bramble", "bridge", "bright", "brook", "canyon", "castle", "cedar",
    "central", "city", "clear", "clover", "coast", "coastal", "common", "compass", "county",
    "crown", "dale", "delta", "east", "eastern", "emerald", "equity", "evergreen", "fair",
    "fairshare", "first", "forest", "frontier", "garden", "glen", "golden", "good", "grand",
    "great", "green", "harbour", "harmony", "harvest", "hazel", "heather", "heritage", "highland",
    "hill", "horizon", "island", "juniper", "lake", "lantern", "lavender", "liberty", "little",
    "local", "lowland", "maple", "meadow", "mesa", "metro", "midland", "moor", "mountain", "new",
    "north", "northern", "oak", "ocean", "old", "open", "orchard", "pacific", "people", "pine",
    "pioneer", "polar", "prairie", "rainbow", "ridge", "river", "riverside", "rowan", "rural",
    "saffron", "silver", "south", "southern", "spring", "star", "stone", "summit", "sunny",
    "sunrise", "thistle", "town", "true", "unity", "upland", "urban", "valley", "village", "west",
    "western", "wild", "willow", "aberdeen", "auckland", "austin", "belfast", "bergen",
    "berkeley", "bologna", "boulder", "brisbane", "bristol", "cardiff", "dublin", "glasgow",
    "halifax", "hamburg", "kerala", "leeds", "leipzig", "lisbon", "lyon", "madison",
    "manchester", "melbourne", "mondragon", "nairobi", "nantes", "oslo", "ottawa", "portland",
    "rochdale", "seattle", "toronto", "vermont", "wellington", "winnipeg",
];

/// Trades and sectors of cooperatives.
const TRADE: &[&str] = &[
    "artisans", "artists", "bakers", "bakery", "bank", "beekeepers", "berries", "bikes", "books",
    "brewers", "brewery", "broadband", "builders", "butchers", "cabs", "cafe", "care", "carers",
    "carpenters", "cattle", "cheese", "childcare", "cinema", "cleaners", "cocoa", "coffee",
    "college", "consulting", "couriers", "crafts", "creamery", "credit", "cycles", "dairy", "data",
    "dental", "design", "digital", "electricians", "energy", "farm", "farmers", "finance",
    "fishers", "fitness", "foods", "forestry", "freight", "funeral", "grain", "grocers",
    "growers", "hardware", "health", "homes", "honey", "hostel", "housing", "insurance",
    "kitchen", "learning", "legal", "loans", "lumber", "makers", "market", "media", "meat",
    "millers", "movers", "musicians", "nursery", "nurses", "olive", "organics", "painters",
    "pharmacy", "plumbers", "press", "printers", "produce", "pub", "radio", "ranchers",
    "recycling", "repair", "rice", "savings", "school", "seafood", "seeds", "sheep", "shop",
    "software", "solar", "sports", "store", "students", "sugar", "supply", "taxi", "tea", "tech",
    "textiles", "theatre", "timber", "tours", "transport", "travel", "tutors", "vintners",
    "water", "weavers", "wind", "winery", "wool", "workers",
];

/// Words naming the kind of organisation.
const ORG: &[&str] = &[
    "alliance",
    "association",
    "circle",
    "collective",
    "commons",
    "coop",
    "cooperative",
    "council",
    "exchange",
    "federation",
    "group",
    "guild",
    "league",
    "members",
    "mutual",
    "network",
    "partners",
    "society",
    "trust",
    "union",
];

/// Lowercase NFC words that each contain at least one non-ASCII letter (Latin script only).
const IDN: &[&str] = &[
    "açaí",
    "agrícola",
    "åker",
    "bäcker",
    "bäckerei",
    "bønder",
    "brød",
    "bücher",
    "bürger",
    "café",
    "château",
    "coopérative",
    "coruña",
    "côte",
    "crédito",
    "crème",
    "éco",
    "école",
    "educación",
    "élevage",
    "énergie",
    "energía",
    "épicerie",
    "forêt",
    "fromagère",
    "genève",
    "göteborg",
    "grün",
    "jönköping",
    "käserei",
    "köln",
    "kraków",
    "lechería",
    "liège",
    "łódź",
    "malmö",
    "mühle",
    "münchen",
    "niños",
    "økologisk",
    "panadería",
    "pão",
    "québec",
    "señal",
    "smør",
    "société",
    "spółdzielnia",
    "tromsø",
    "união",
    "växjö",
    "wärme",
    "zürich",
    "ærø",
];

/// A way of building a name: word lists joined by separators (the first separator is empty).
#[derive(Debug)]
struct Pattern {
    parts: &'static [(&'static str, &'static [&'static str])],
    weight: u64,
}

impl Pattern {
    fn size(&self) -> u64 {
        self.parts.iter().map(|(_, list)| list.len() as u64).product()
    }

    fn has_org_word(&self) -> bool {
        self.parts.iter().any(|(_, list)| std::ptr::eq(*list, ORG))
    }
}

/// ASCII domain name patterns.
const ASCII_PATTERNS: &[Pattern] = &[
    Pattern { parts: &[("", PRE), ("", TRADE)], weight: 24 },
    Pattern { parts: &[("", PRE), ("-", TRADE)], weight: 20 },
    Pattern { parts: &[("", TRADE), ("", ORG)], weight: 6 },
    Pattern { parts: &[("", TRADE), ("-", ORG)], weight: 10 },
    Pattern { parts: &[("", PRE), ("-", ORG)], weight: 5 },
    Pattern { parts: &[("", PRE), ("-", TRADE), ("-", ORG)], weight: 20 },
    Pattern { parts: &[("", PRE), ("", TRADE), ("-", ORG)], weight: 8 },
];

/// Internationalized domain name patterns (U-labels; every one has an [`IDN`] word).
const IDN_PATTERNS: &[Pattern] = &[
    Pattern { parts: &[("", IDN), ("-", TRADE)], weight: 40 },
    Pattern { parts: &[("", IDN), ("-", ORG)], weight: 15 },
    Pattern { parts: &[("", PRE), ("-", IDN)], weight: 20 },
    Pattern { parts: &[("", IDN), ("-", IDN)], weight: 10 },
    Pattern { parts: &[("", IDN)], weight: 5 },
];

/// First and second halves of hosting provider names (concatenated).
const PROV_A: &[&str] = &[
    "green", "blue", "red", "open", "free", "fair", "mutual", "coop", "civic", "commons", "union",
    "people", "solid", "swift", "bright", "clear", "kind", "simple", "secure", "rapid", "prime",
    "north", "south", "metro", "river", "hill", "star", "sun", "moon", "orbit", "pixel", "maple",
    "cedar", "harbour", "beacon", "anchor", "summit", "delta", "vertex", "nova",
];
const PROV_B: &[&str] = &[
    "host", "hosting", "net", "networks", "web", "cloud", "it", "tech", "systems", "servers",
    "data", "online", "link", "wire", "space",
];
/// Top-level suffixes of providers outside .coop.
const PROV_TLDS: &[&str] =
    &["net", "com", "org", "eu", "co.uk", "de", "fr", "nl", "ch", "es", "org.uk", "ca", "it", "se"];

/// Registrar client-ID halves.
const REG_A: &[&str] = &[
    "coop", "mutual", "fair", "open", "green", "common", "union", "people", "civic", "key",
    "domain", "name", "web", "net", "alpha", "atlas", "beacon", "harbour", "meridian", "pioneer",
    "summit", "true", "north", "poptel",
];
const REG_B: &[&str] = &[
    "names", "domains", "reg", "registry", "net", "hosting", "online", "isp", "web", "dns",
    "registrar", "direct",
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Amara", "Ana", "Andrés", "Anna", "Astrid", "Ben", "Bjørn", "Carlos", "Chen",
    "Chloé", "Claire", "Daniel", "David", "Diego", "Ewa", "Fatima", "François", "Gabriel",
    "Grace", "Hannah", "Hiroshi", "Ian", "Ingrid", "Isabel", "James", "Jean", "Jiří", "João",
    "José", "Julia", "Karin", "Kofi", "Lars", "Laura", "Liam", "Lucía", "Łukasz", "Maria", "Mark",
    "Martín", "Mei", "Mohammed", "Nadia", "Niamh", "Noah", "Olivia", "Omar", "Paul", "Pedro",
    "Priya", "Rahul", "Rosa", "Ruth", "Sam", "Sarah", "Siobhán", "Sofia", "Søren", "Tomasz",
    "Ursula", "Wanjiru", "Yusuf", "Zoë",
];
const LAST_NAMES: &[&str] = &[
    "Adeyemi", "Andersen", "Bauer", "Brown", "Campbell", "Chen", "Clarke", "Costa", "Dubois",
    "Evans", "Fernández", "Fischer", "García", "Gómez", "Hansen", "Hughes", "Ivanova", "Jensen",
    "Jones", "Kamau", "Kowalski", "Larsen", "Lefèvre", "López", "MacDonald", "Martin", "Mendes",
    "Moreau", "Müller", "Murphy", "Nakamura", "Nguyen", "Nowak", "O'Brien", "O'Connor", "Okafor",
    "Olsen", "Patel", "Pereira", "Petit", "Ramírez", "Rossi", "Santos", "Schmidt", "Schneider",
    "Silva", "Singh", "Smith", "Taylor", "Thomas", "Walsh", "Wang", "Weber", "Williams",
    "Wilson", "Wójcik", "Yamamoto", "Zieliński", "Østergaard", "Åberg", "Łukasiewicz",
];
const ROLE_NAMES: &[&str] = &[
    "Secretary",
    "Membership Secretary",
    "General Manager",
    "Board of Directors",
    "Office Manager",
];
const EMAIL_LOCALS: &[&str] =
    &["info", "office", "admin", "hello", "contact", "secretary", "membership", "enquiries"];

/// A place contacts and registrars live: postal-code pattern (`#` digit, `@` letter), phone
/// country code, area code and number of further digits, language, street and org style.
#[derive(Debug)]
struct Loc {
    city: &'static str,
    state: &'static str,
    postal: &'static str,
    cc: &'static str,
    phone_cc: &'static str,
    area: &'static str,
    digits: u8,
    lang: &'static str,
    street: usize,
    org: usize,
    weight: u64,
}

macro_rules! loc {
    ($city:expr, $state:expr, $postal:expr, $cc:expr, $pcc:expr, $area:expr, $digits:expr,
     $lang:expr, $street:expr, $org:expr, $weight:expr) => {
        Loc {
            city: $city,
            state: $state,
            postal: $postal,
            cc: $cc,
            phone_cc: $pcc,
            area: $area,
            digits: $digits,
            lang: $lang,
            street: $street,
            org: $org,
            weight: $weight,
        }
    };
}

const LOCS: &[Loc] = &[
    loc!("Manchester", "Greater Manchester", "M# #@@", "GB", "44", "161", 7, "en", 0, 0, 12),
    loc!("London", "", "EC#@ #@@", "GB", "44", "20", 8, "en", 0, 0, 8),
    loc!("Leeds", "West Yorkshire", "LS# #@@", "GB", "44", "113", 7, "en", 0, 0, 5),
    loc!("Glasgow", "Lanarkshire", "G# #@@", "GB", "44", "141", 7, "en", 0, 0, 4),
    loc!("Cardiff", "South Glamorgan", "CF## #@@", "GB", "44", "29", 8, "en", 0, 0, 3),
    loc!("Rochdale", "Lancashire", "OL## #@@", "GB", "44", "1706", 6, "en", 0, 0, 2),
    loc!("Bristol", "", "BS# #@@", "GB", "44", "117", 7, "en", 0, 0, 4),
    loc!("Madison", "WI", "537##", "US", "1", "608", 7, "en", 0, 1, 6),
    loc!("Minneapolis", "MN", "554##", "US", "1", "612", 7, "en", 0, 1, 5),
    loc!("Seattle", "WA", "981##", "US", "1", "206", 7, "en", 0, 1, 4),
    loc!("Arlington", "VA", "222##", "US", "1", "703", 7, "en", 0, 1, 4),
    loc!("Burlington", "VT", "054##", "US", "1", "802", 7, "en", 0, 1, 3),
    loc!("Austin", "TX", "787##", "US", "1", "512", 7, "en", 0, 1, 3),
    loc!("Berkeley", "CA", "947##", "US", "1", "510", 7, "en", 0, 1, 3),
    loc!("Washington", "DC", "200##", "US", "1", "202", 7, "en", 0, 1, 2),
    loc!("Winnipeg", "MB", "R#@ #@#", "CA", "1", "204", 7, "en", 0, 2, 3),
    loc!("Saskatoon", "SK", "S#@ #@#", "CA", "1", "306", 7, "en", 0, 2, 2),
    loc!("Québec", "QC", "G#@ #@#", "CA", "1", "418", 7, "fr", 2, 2, 2),
    loc!("Montréal", "QC", "H#@ #@#", "CA", "1", "514", 7, "fr", 2, 2, 2),
    loc!("Ottawa", "ON", "K#@ #@#", "CA", "1", "613", 7, "en", 0, 2, 2),
    loc!("Paris", "Île-de-France", "750##", "FR", "33", "1", 8, "fr", 2, 3, 3),
    loc!("Lyon", "Auvergne-Rhône-Alpes", "6900#", "FR", "33", "4", 8, "fr", 2, 3, 2),
    loc!("Nantes", "Pays de la Loire", "440##", "FR", "33", "2", 8, "fr", 2, 3, 1),
    loc!("Brussels", "Brussels-Capital", "1000", "BE", "32", "2", 7, "fr", 2, 3, 1),
    loc!("Berlin", "Berlin", "10###", "DE", "49", "30", 8, "de", 1, 4, 2),
    loc!("München", "Bayern", "80###", "DE", "49", "89", 8, "de", 1, 4, 2),
    loc!("Köln", "Nordrhein-Westfalen", "50###", "DE", "49", "221", 7, "de", 1, 4, 1),
    loc!("Zürich", "ZH", "80##", "CH", "41", "44", 7, "de", 1, 4, 2),
    loc!("Genève", "GE", "12##", "CH", "41", "22", 7, "fr", 2, 3, 1),
    loc!("Wien", "Wien", "1###", "AT", "43", "1", 7, "de", 1, 4, 1),
    loc!("Mondragón", "Gipuzkoa", "20500", "ES", "34", "943", 6, "es", 3, 5, 2),
    loc!("Madrid", "Madrid", "280##", "ES", "34", "91", 7, "es", 3, 5, 2),
    loc!("A Coruña", "A Coruña", "150##", "ES", "34", "981", 6, "es", 3, 5, 1),
    loc!("São Paulo", "SP", "0####-###", "BR", "55", "11", 8, "es", 3, 5, 2),
    loc!("Buenos Aires", "CABA", "C####@@@", "AR", "54", "11", 8, "es", 3, 5, 1),
    loc!("Bologna", "BO", "401##", "IT", "39", "051", 7, "en", 4, 6, 2),
    loc!("Łódź", "łódzkie", "9#-###", "PL", "48", "42", 7, "en", 5, 7, 1),
    loc!("Kraków", "małopolskie", "3#-###", "PL", "48", "12", 7, "en", 5, 7, 1),
    loc!("Malmö", "Skåne", "2## ##", "SE", "46", "40", 7, "en", 6, 8, 1),
    loc!("Aarhus", "", "8000", "DK", "45", "", 8, "en", 6, 8, 1),
    loc!("Tromsø", "Troms", "90##", "NO", "47", "", 8, "en", 6, 8, 1),
    loc!("Dublin", "Co. Dublin", "D0# @#@#", "IE", "353", "1", 7, "en", 0, 9, 2),
    loc!("Wellington", "", "6011", "NZ", "64", "4", 7, "en", 0, 9, 1),
    loc!("Melbourne", "VIC", "3###", "AU", "61", "3", 8, "en", 0, 9, 2),
    loc!("Nairobi", "Nairobi", "00100", "KE", "254", "20", 7, "en", 0, 9, 1),
    loc!("Anand", "Gujarat", "3880##", "IN", "91", "2692", 6, "en", 0, 9, 1),
    loc!("Tokyo", "Tokyo", "1##-####", "JP", "81", "3", 8, "en", 0, 9, 1),
];

/// Street templates (`{n}` house number, `{s}` street name) and names, by street style.
const STREET_STYLES: &[(&[&str], &[&str])] = &[
    (
        &["{n} {s} Street", "{n} {s} Road", "{n} {s} Lane", "{n} {s} Avenue", "{n} {s} Way"],
        &[
            "Market", "Church", "Mill", "Station", "Victoria", "King", "Queen", "Park", "High",
            "Bridge", "Garden", "Union", "Lincoln", "Maple", "Cedar", "Holyoake", "Owen", "Toad",
        ],
    ),
    (
        &["{s}straße {n}", "{s}weg {n}", "{s}platz {n}", "{s}gasse {n}"],
        &["Bahnhof", "Linden", "Goethe", "Schiller", "Markt", "Raiffeisen", "Kirch", "Mühlen"],
    ),
    (
        &["{n} rue {s}", "{n} avenue {s}", "{n} boulevard {s}", "{n} place {s}"],
        &[
            "de la République",
            "Victor Hugo",
            "Jean Jaurès",
            "Pasteur",
            "des Coopérateurs",
            "du Marché",
            "Saint-Jacques",
            "de la Gare",
        ],
    ),
    (
        &["Calle {s} {n}", "Avenida {s}, {n}", "Rua {s}, {n}", "Plaza {s} {n}"],
        &["Mayor", "San Martín", "Arizmendiarrieta", "de la Constitución", "Real", "do Comércio"],
    ),
    (
        &["Via {s} {n}", "Piazza {s} {n}", "Viale {s} {n}"],
        &["Garibaldi", "Mazzini", "Roma", "Dante", "Verdi", "Marconi", "della Cooperazione"],
    ),
    (
        &["ul. {s} {n}", "al. {s} {n}"],
        &["Piotrkowska", "Kościuszki", "Mickiewicza", "Długa", "Floriańska", "Spółdzielcza"],
    ),
    (
        &["{s}gatan {n}", "{s}vej {n}", "{s}veien {n}", "{s}gade {n}"],
        &["Stor", "Kyrko", "Havne", "Skole", "Møller", "Strand", "Åsen"],
    ),
];
const STREET_LINE2: &[&str] = &["Unit {n}", "Suite {n}", "Floor {n}", "Room {n}", "PO Box {n}"];
const STREET_LINE3: &[&str] =
    &["The Old Mill", "The Old Dairy", "Cooperative Centre", "Station House", "Granary Yard"];

/// Organisation name templates (`{}` = the name words), by org style; then the short legal
/// suffix used when the name already says what kind of body it is, and the registrar suffix.
const ORG_STYLES: &[(&[&str], &str, &str)] = &[
    (
        &[
            "{} Co-operative Ltd",
            "{} Co-operative Society Limited",
            "{} Community Benefit Society",
            "{} Co-op",
        ],
        "Ltd",
        "Ltd",
    ),
    (
        &["{} Cooperative", "{} Cooperative, Inc.", "{} Co-op", "{} Cooperative Association"],
        "Inc.",
        "Inc.",
    ),
    (&["{} Co-operative Ltd.", "{} Co-op", "Coopérative {}"], "Ltd.", "Inc."),
    (&["{} SCOP", "Société coopérative {}", "{} SCIC"], "SCOP", "SAS"),
    (&["{} eG", "{} Genossenschaft", "Genossenschaft {}"], "eG", "GmbH"),
    (&["{} S. Coop.", "Cooperativa {}", "{} Cooperativa Ltda."], "S. Coop.", "S.L."),
    (&["{} Società Cooperativa", "{} Soc. Coop. a r.l."], "Soc. Coop.", "S.r.l."),
    (&["Spółdzielnia {}"], "", "sp. z o.o."),
    (&["{} Andelsforening", "{} Ekonomisk förening", "{} SA"], "", "AB"),
    (&["{} Co-operative Society", "{} Cooperative Ltd", "{} Co-operative"], "Ltd", "Ltd"),
];

/// Sponsor federations: fictional apex bodies that vouch for the first registrants.
const APEX: &[(&str, usize)] = &[
    ("Northern Cooperative Federation", 0),
    ("Atlantic Co-operative Council", 7),
    ("Prairie Co-operatives Federation", 15),
    ("Union of Alpine Cooperatives", 27),
    ("Iberian Cooperative League", 30),
    ("Nordic Cooperative Council", 38),
    ("Central European Cooperative Union", 24),
    ("Pacific Cooperative Alliance", 43),
    ("Southern Hemisphere Cooperative Network", 33),
];

const DOMAIN_REMARKS: &[&str] = &[
    "Renewal handled by a reseller",
    "Registrant eligibility confirmed by the sponsor",
    "Transfer lock requested by the registrant",
    "Billing contact changed at the registrant's request",
    "Held for a cooperative in formation",
    "Registrant contact verified by telephone",
    "Renewed for several years at once",
    "Name servers changed after a hosting move",
];
const HOST_REMARKS: &[&str] = &["Anycast service", "Glue updated after a hosting move"];

/// First octets of public IPv4 space used for random addresses.
const V4_FIRST: &[u8] = &[
    31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 104,
    109, 128, 130, 134, 137, 141, 145, 146, 147, 149, 151, 152, 157, 158, 159, 162, 164, 167, 173,
    176, 178, 185, 188, 193, 194, 195, 199, 204, 205, 206, 207, 208, 209, 212, 213, 216, 217,
];

const AUTH_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!$%&*+-=?@^_";

// ---------------------------------------------------------------------------------------------
// Name spaces: unique names without remembering them.

/// Draws names from weighted patterns; each pattern walks a seeded permutation of its whole
/// space, then starts again with a numbered round (`name2`, `name3`, ...). Names are unique
/// because patterns never produce the same base name (checked by tests), base names never end
/// in a digit, and the round number is the only trailing digit run.
#[derive(Debug)]
struct NameSpace {
    patterns: &'static [Pattern],
    perms: Vec<Perm>,
    counters: Vec<u64>,
    pick: Weighted,
}

impl NameSpace {
    fn new(patterns: &'static [Pattern], rng: &mut Rng) -> NameSpace {
        NameSpace {
            patterns,
            perms: patterns.iter().map(|p| Perm::new(p.size(), rng.next_u64())).collect(),
            counters: vec![0; patterns.len()],
            pick: Weighted::new(patterns.iter().map(|p| p.weight)),
        }
    }

    /// Appends the next name to `name` and its words in display form to `words`; returns
    /// whether the name has a word saying what kind of organisation it is.
    fn next(&mut self, rng: &mut Rng, name: &mut String, words: &mut String) -> bool {
        let p = self.pick.pick(rng);
        let pattern = &self.patterns[p];
        let size = pattern.size();
        let count = self.counters[p];
        self.counters[p] += 1;
        let mut x = self.perms[p].apply(count % size, count / size);
        for (sep, list) in pattern.parts {
            let len = list.len() as u64;
            let word = list[(x % len) as usize];
            x /= len;
            name.push_str(sep);
            name.push_str(word);
            if !words.is_empty() {
                words.push(' ');
            }
            push_display_word(words, word);
        }
        if count >= size {
            let _ = write!(name, "{}", count / size + 1);
        }
        pattern.has_org_word()
    }
}

/// Appends a name word capitalized for display ("coop" becomes "Co-op").
fn push_display_word(out: &mut String, word: &str) {
    if word == "coop" {
        out.push_str("Co-op");
        return;
    }
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// Appends an ASCII e-mail-safe version of `s` (lowercase letters only, accents folded).
fn push_ascii_fold(out: &mut String, s: &str) {
    for c in s.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'a'..='z' => {
                out.push(c);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ł' => "l",
            'ñ' | 'ń' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'ř' => "r",
            'ś' | 'š' => "s",
            'ß' => "ss",
            'ù' | 'ú' | 'û' | 'ü' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(folded);
    }
}

/// Appends `template` with every `{}` replaced by `words`.
fn push_template(out: &mut String, template: &str, words: &str) {
    let mut parts = template.split("{}");
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for rest in parts {
        out.push_str(words);
        out.push_str(rest);
    }
}

// ---------------------------------------------------------------------------------------------
// Output files.

/// Writes one class's records into numbered files of at most `per_file` records.
#[derive(Debug)]
struct ClassWriter {
    class: &'static str,
    dir: PathBuf,
    per_file: usize,
    header: String,
    out: Option<BufWriter<File>>,
    path: PathBuf,
    in_file: usize,
    records: u64,
    bytes: u64,
    files: Vec<PathBuf>,
}

impl ClassWriter {
    fn new(class: &'static str, data_dir: &Path, opts: &GenOptions) -> Result<Self, GenError> {
        let dir = data_dir.join(class);
        fs::create_dir(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(ClassWriter {
            class,
            dir,
            per_file: opts.records_per_file,
            header: format!(
                "# Generated by `mkdb gen --domains {} --seed {}`: synthetic .coop registry \
                 data, {class} file",
                opts.domains, opts.seed
            ),
            out: None,
            path: PathBuf::new(),
            in_file: 0,
            records: 0,
            bytes: 0,
            files: Vec::new(),
        })
    }

    /// Writes one record (already ending with its `---` line).
    fn write(&mut self, record: &str) -> Result<(), GenError> {
        if self.out.is_none() || self.in_file >= self.per_file {
            self.open_next()?;
        }
        if let Some(out) = self.out.as_mut() {
            out.write_all(record.as_bytes()).map_err(|e| io_err(&self.path, e))?;
        }
        self.in_file += 1;
        self.records += 1;
        self.bytes += record.len() as u64;
        Ok(())
    }

    fn open_next(&mut self) -> Result<(), GenError> {
        self.close()?;
        let index = self.files.len();
        self.path = self.dir.join(format!("{}-{index:04}.txt", self.class));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, e))?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let header = format!("{} {index}\n", self.header);
        out.write_all(header.as_bytes()).map_err(|e| io_err(&self.path, e))?;
        self.bytes += header.len() as u64;
        self.files.push(self.path.clone());
        self.out = Some(out);
        self.in_file = 0;
        Ok(())
    }

    fn close(&mut self) -> Result<(), GenError> {
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(|e| io_err(&self.path, e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Record building.

fn tag(buf: &mut String, tag: &str) {
    buf.push_str(tag);
    buf.push_str(": ");
}

fn line(buf: &mut String, t: &str, value: &str) {
    tag(buf, t);
    buf.push_str(value);
    buf.push('\n');
}

fn line_date(buf: &mut String, t: &str, time: i64) {
    tag(buf, t);
    push_date(buf, time);
    buf.push('\n');
}

fn end_record(buf: &mut String) {
    buf.push_str("---\n");
}

/// A contact ID: a per-registrar prefix (letters, maybe ending in `-` or `_`) and a number
/// unique over the whole tree, so IDs are unique whatever the prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContactRef {
    prefix: u16,
    num: u64,
}

/// A postal address.
#[derive(Debug, Clone)]
struct Address {
    streets: Vec<String>,
    city: String,
    state: String,
    cc: &'static str,
    postal: String,
}

/// The .coop extension data of a registrant.
#[derive(Debug, Clone)]
struct CoopExt {
    ens: u64,
    verification: &'static str,
    sponsors: Vec<ContactRef>,
    lang: &'static str,
    mailing: bool,
}

/// Everything in one contact record.
#[derive(Debug)]
struct ContactSpec<'a> {
    id: ContactRef,
    name: &'a str,
    org: Option<&'a str>,
    addr: &'a Address,
    phone: &'a str,
    fax: Option<&'a str>,
    email: &'a str,
    statuses: &'static [&'static str],
    coop: Option<CoopExt>,
    sponsor: usize,
    created_by: usize,
    created: i64,
    updated: Option<i64>,
    transferred: Option<i64>,
    auth: bool,
}

/// A registrar and the state needed to give it domains.
#[derive(Debug)]
struct Registrar {
    id: String,
    name: String,
    slug: String,
    prefix: u16,
    loc: usize,
    status: &'static str,
    created: i64,
    admin: Vec<ContactRef>,
    tech: Vec<ContactRef>,
    billing: Vec<ContactRef>,
    /// Recently created registrants, for registrants that own several domains.
    recent: Vec<ContactRef>,
    recent_next: usize,
}

/// A hosting provider: shared name servers, their addresses, maybe a `-dns.coop` domain.
#[derive(Debug)]
struct Provider {
    hosts: Vec<String>,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Option<Ipv6Addr>>,
    registrar: usize,
    /// The provider's own .coop domain (its hosts are under it) and its display words.
    coop_domain: Option<(String, String)>,
}

/// A name server of a domain.
#[derive(Debug, Clone, Copy)]
enum NsRef {
    /// Host `.1` of provider `.0`.
    Pool(usize, usize),
    /// The domain's own host `ns<N+1>.<domain>`.
    Own(usize),
}

const REGISTRANT_RING: usize = 32;
const SPONSOR_POOL: usize = 4096;
const FIRST_CONTACT_NUM: u64 = 1_000_000;
const FIRST_DOMAIN_ROID: u64 = 400_032;
const FIRST_HOST_ROID: u64 = 400_032;

/// The generator's state.
#[derive(Debug)]
struct Gen {
    rng: Rng,
    opts: GenOptions,
    registrar_w: ClassWriter,
    contact_w: ClassWriter,
    nameserver_w: ClassWriter,
    domain_w: ClassWriter,
    buf: String,
    prefixes: Vec<String>,
    registrars: Vec<Registrar>,
    /// Registrars that take new domains, weighted by market share.
    active: Vec<usize>,
    active_pick: Weighted,
    loc_pick: Weighted,
    providers: Vec<Provider>,
    provider_pick: Weighted,
    sponsors: Vec<ContactRef>,
    sponsor_next: usize,
    next_contact: u64,
    next_host: u64,
    next_domain: u64,
    next_ens: u64,
    ascii_names: NameSpace,
    idn_names: NameSpace,
}

impl Gen {
    fn new(data_dir: &Path, opts: &GenOptions) -> Result<Gen, GenError> {
        let mut rng = Rng::new(opts.seed);
        let ascii_names = NameSpace::new(ASCII_PATTERNS, &mut rng);
        let idn_names = NameSpace::new(IDN_PATTERNS, &mut rng);
        Ok(Gen {
            registrar_w: ClassWriter::new("registrar", data_dir, opts)?,
            contact_w: ClassWriter::new("contact", data_dir, opts)?,
            nameserver_w: ClassWriter::new("nameserver", data_dir, opts)?,
            domain_w: ClassWriter::new("domain", data_dir, opts)?,
            rng,
            opts: opts.clone(),
            buf: String::with_capacity(4096),
            prefixes: vec!["CNT-".to_string(), "SPN-".to_string()],
            registrars: Vec::new(),
            active: Vec::new(),
            active_pick: Weighted::new([]),
            loc_pick: Weighted::new(LOCS.iter().map(|l| l.weight)),
            providers: Vec::new(),
            provider_pick: Weighted::new([]),
            sponsors: Vec::new(),
            sponsor_next: 0,
            next_contact: FIRST_CONTACT_NUM,
            next_host: FIRST_HOST_ROID + 2,
            next_domain: FIRST_DOMAIN_ROID + 1,
            next_ens: 11,
            ascii_names,
            idn_names,
        })
    }

    fn run(&mut self, progress: &mut dyn FnMut(u64)) -> Result<(), GenError> {
        let total = self.opts.domains.max(1);
        self.sample_contacts()?;
        self.apex_contacts()?;
        self.registrars()?;
        self.sample_hosts()?;
        self.providers(total - 1)?;
        self.sample_domain()?;
        let mut written = 1u64;
        for p in 0..self.providers.len() {
            if let Some((name, words)) = self.providers[p].coop_domain.clone() {
                let reg = self.providers[p].registrar;
                self.domain(&name, &words, false, reg, Some(p))?;
                written += 1;
            }
        }
        while written < total {
            self.random_domain()?;
            written += 1;
            if written % PROGRESS_EVERY == 0 {
                progress(written);
            }
        }
        progress(written);
        Ok(())
    }

    fn finish(mut self, mut summary: GenSummary) -> Result<GenSummary, GenError> {
        for w in
            [&mut self.registrar_w, &mut self.contact_w, &mut self.nameserver_w, &mut self.domain_w]
        {
            w.close()?;
            summary.bytes += w.bytes;
            summary.files.append(&mut w.files);
        }
        summary.registrars = self.registrar_w.records;
        summary.contacts = self.contact_w.records;
        summary.nameservers = self.nameserver_w.records;
        summary.domains = self.domain_w.records;
        Ok(summary)
    }

    // -- small helpers ------------------------------------------------------------------------

    fn push_cid(&self, buf: &mut String, c: ContactRef) {
        buf.push_str(&self.prefixes[c.prefix as usize]);
        let _ = write!(buf, "{}", c.num);
    }

    fn cid_line(&self, buf: &mut String, t: &str, c: ContactRef) {
        tag(buf, t);
        self.push_cid(buf, c);
        buf.push('\n');
    }

    fn reg_line(&self, buf: &mut String, t: &str, reg: usize) {
        line(buf, t, &self.registrars[reg].id);
    }

    fn new_contact(&mut self, reg: usize) -> ContactRef {
        let num = self.next_contact;
        self.next_contact += 1;
        ContactRef { prefix: self.registrars[reg].prefix, num }
    }

    fn pick_registrar(&mut self) -> usize {
        self.active[self.active_pick.pick(&mut self.rng)]
    }

    /// Any registrar but `reg` (terminated ones included: they held domains once).
    fn other_registrar(&mut self, reg: usize) -> usize {
        let n = self.registrars.len();
        (reg + 1 + self.rng.index(n - 1)) % n
    }

    fn person_name(&mut self) -> String {
        let first = self.rng.pick(FIRST_NAMES);
        let last = self.rng.pick(LAST_NAMES);
        format!("{first} {last}")
    }

    fn phone(&mut self, loc: &Loc) -> String {
        let mut s = String::with_capacity(20);
        s.push('+');
        s.push_str(loc.phone_cc);
        s.push('.');
        s.push_str(loc.area);
        for i in 0..loc.digits {
            let lo = if i == 0 && loc.area.is_empty() { 2 } else { 0 };
            s.push(char::from(b'0' + self.rng.range(lo, 9) as u8));
        }
        if self.rng.chance(30) {
            let _ = write!(s, "x{}", self.rng.range(10, 999));
        }
        s
    }

    fn address(&mut self, loc: &Loc) -> Address {
        let (templates, names) = STREET_STYLES[loc.street];
        let template = self.rng.pick(templates);
        let street_name = self.rng.pick(names);
        let number = self.rng.range(1, 240).to_string();
        let mut streets = vec![template.replace("{s}", street_name).replace("{n}", &number)];
        if self.rng.chance(350) {
            let n = self.rng.range(1, 40).to_string();
            streets.push(self.rng.pick(STREET_LINE2).replace("{n}", &n));
            if self.rng.chance(250) {
                streets.push(self.rng.pick(STREET_LINE3).to_string());
            }
        }
        let mut postal = String::with_capacity(loc.postal.len());
        for c in loc.postal.chars() {
            match c {
                '#' => postal.push(char::from(b'0' + self.rng.below(10) as u8)),
                '@' => postal.push(char::from(b'A' + self.rng.below(26) as u8)),
                other => postal.push(other),
            }
        }
        Address {
            streets,
            city: loc.city.to_string(),
            state: loc.state.to_string(),
            cc: loc.cc,
            postal,
        }
    }

    fn auth_info(&mut self, buf: &mut String) {
        let len = self.rng.range(12, 16);
        for _ in 0..len {
            buf.push(char::from(self.rng.pick(AUTH_CHARS)));
        }
    }

    fn contact_statuses(&mut self) -> &'static [&'static str] {
        match self.rng.below(1000) {
            0..920 => &["ok"],
            920..970 => &["clientDeleteProhibited", "clientTransferProhibited"],
            970..990 => &["clientUpdateProhibited"],
            _ => &["serverDeleteProhibited", "serverUpdateProhibited"],
        }
    }

    /// Writes a contact record.
    fn write_contact(&mut self, c: &ContactSpec<'_>) -> Result<(), GenError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.cid_line(&mut buf, "Contact-ID", c.id);
        let _ = writeln!(buf, "Contact-ROID: C{}-COOP", c.id.num);
        line(&mut buf, "Name", c.name);
        if let Some(org) = c.org {
            line(&mut buf, "Organization", org);
        }
        for street in &c.addr.streets {
            line(&mut buf, "Street", street);
        }
        line(&mut buf, "City", &c.addr.city);
        if !c.addr.state.is_empty() {
            line(&mut buf, "State-Province", &c.addr.state);
        }
        line(&mut buf, "Country-Code", c.addr.cc);
        if !c.addr.postal.is_empty() {
            line(&mut buf, "Postal-Code", &c.addr.postal);
        }
        line(&mut buf, "Phone", c.phone);
        if let Some(fax) = c.fax {
            line(&mut buf, "Fax", fax);
        }
        line(&mut buf, "Email", c.email);
        for status in c.statuses {
            line(&mut buf, "Contact-Status", status);
        }
        if let Some(coop) = &c.coop {
            let _ = writeln!(buf, "ENS-Identity: COOP-{:04}", coop.ens);
            line(&mut buf, "Verification-State", coop.verification);
            for &s in &coop.sponsors {
                self.cid_line(&mut buf, "Sponsor", s);
            }
            line(&mut buf, "Lang-Pref", coop.lang);
            line(&mut buf, "Mailing-List-Pref", if coop.mailing { "true" } else { "false" });
        }
        self.reg_line(&mut buf, "Sponsoring-Registrar", c.sponsor);
        self.reg_line(&mut buf, "Created-By", c.created_by);
        if c.updated.is_some() {
            self.reg_line(&mut buf, "Updated-By", c.sponsor);
        }
        line_date(&mut buf, "Created-Date", c.created);
        if let Some(t) = c.updated {
            line_date(&mut buf, "Updated-Date", t);
        }
        if let Some(t) = c.transferred {
            line_date(&mut buf, "Transferred-Date", t);
        }
        if c.auth {
            tag(&mut buf, "Auth-Info");
            self.auth_info(&mut buf);
            buf.push('\n');
        }
        end_record(&mut buf);
        let result = self.contact_w.write(&buf);
        self.buf = buf;
        result
    }

    /// Writes a nameserver record.
    fn write_host(&mut self, h: &HostSpec<'_>) -> Result<(), GenError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let _ = writeln!(buf, "Host-ID: H{}-COOP", h.roid);
        tag(&mut buf, "Host-Name");
        buf.push_str(h.name_prefix);
        buf.push_str(h.name);
        buf.push('\n');
        for status in h.statuses {
            line(&mut buf, "Host-Status", status);
        }
        for ip in h.v4 {
            let _ = writeln!(buf, "IP-Address: {ip}");
        }
        for ip in h.v6 {
            let _ = writeln!(buf, "IP-Address: {ip}");
        }
        self.reg_line(&mut buf, "Sponsoring-Registrar", h.sponsor);
        self.reg_line(&mut buf, "Created-By", h.created_by);
        if h.updated.is_some() {
            self.reg_line(&mut buf, "Updated-By", h.sponsor);
        }
        if let Some(remark) = h.remark {
            line(&mut buf, "Registrar-Remark", remark);
        }
        line_date(&mut buf, "Created-Date", h.created);
        if let Some(t) = h.updated {
            line_date(&mut buf, "Updated-Date", t);
        }
        if let Some(t) = h.transferred {
            line_date(&mut buf, "Transferred-Date", t);
        }
        end_record(&mut buf);
        let result = self.nameserver_w.write(&buf);
        self.buf = buf;
        result
    }

    // -- the specification's sample objects ---------------------------------------------------

    fn sample_address(lines: &[&str]) -> Address {
        Address {
            streets: lines.iter().map(|s| s.to_string()).collect(),
            city: "ADDRESS2".to_string(),
            state: "ADDRESS3".to_string(),
            cc: "GB",
            postal: "ADDRESS5".to_string(),
        }
    }

    /// CNT-1002..CNT-1005 (test.coop) and CNT-1010..CNT-1014 (registrar SAMPLE). They refer to
    /// REG-42, which is pushed by [`Gen::registrars`] as registrar 0.
    fn sample_contacts(&mut self) -> Result<(), GenError> {
        // Registrar 0 is REG-42; its record is written later, but its ID is needed now.
        self.registrars.push(Registrar {
            id: "REG-42".to_string(),
            name: "SAMPLE".to_string(),
            slug: "reg.coop".to_string(),
            prefix: 0,
            loc: 0,
            status: "ok",
            created: T_FIRST,
            admin: Vec::new(),
            tech: Vec::new(),
            billing: Vec::new(),
            recent: Vec::new(),
            recent_next: 0,
        });
        let sample_day = T_FIRST;
        let three = Self::sample_address(&["ADDRESS1a", "ADDRESS1b", "ADDRESS1c"]);
        let one = Self::sample_address(&["ADDRESS1"]);
        for num in [1002u64, 1003, 1004, 1005, 1010, 1011, 1012, 1013, 1014] {
            let registrant = num == 1002;
            let for_domain = num <= 1005;
            let spec = ContactSpec {
                id: ContactRef { prefix: 0, num },
                name: if for_domain { "A.TEST" } else { "AN-OTHER-TEST" },
                org: Some(if for_domain { "TEST COMPANY COOP." } else { "SAMPLE" }),
                addr: if for_domain { &three } else { &one },
                phone: "+000.000000000",
                fax: Some(if num == 1003 { "+1.2025332970" } else { "+000.000000000" }),
                email: if for_domain { "A.TEST@TEST.COOP" } else { "AN-OTHER-TEST@REG.COOP" },
                statuses: &["ok"],
                coop: registrant.then(|| CoopExt {
                    ens: 10,
                    verification: "verified",
                    sponsors: Vec::new(),
                    lang: "en",
                    mailing: false,
                }),
                sponsor: 0,
                created_by: 0,
                created: sample_day,
                updated: Some(sample_day),
                transferred: registrant.then_some(days_from_civil(2001, 7, 25) * DAY),
                auth: true,
            };
            self.write_contact(&spec)?;
        }
        Ok(())
    }

    /// The fictional federations that sponsor the first registrants.
    fn apex_contacts(&mut self) -> Result<(), GenError> {
        for (i, &(org, loc_index)) in APEX.iter().enumerate() {
            let loc = &LOCS[loc_index];
            let id = ContactRef { prefix: 1, num: 101 + i as u64 };
            let addr = self.address(loc);
            let name = self.person_name();
            let phone = self.phone(loc);
            let mut email = String::from("sponsorship@");
            push_ascii_fold(&mut email, org.split(' ').next().unwrap_or("apex"));
            email.push_str("-federation.coop");
            let created = self.rng.time_between(T_FIRST - 200 * DAY, T_FIRST);
            let spec = ContactSpec {
                id,
                name: &name,
                org: Some(org),
                addr: &addr,
                phone: &phone,
                fax: None,
                email: &email,
                statuses: &["ok"],
                coop: Some(CoopExt {
                    ens: 1 + i as u64,
                    verification: "verified",
                    sponsors: Vec::new(),
                    lang: loc.lang,
                    mailing: true,
                }),
                sponsor: 0,
                created_by: 0,
                created,
                updated: Some(self.rng.time_between(created, T_NOW)),
                transferred: None,
                auth: true,
            };
            self.write_contact(&spec)?;
            self.sponsors.push(id);
        }
        Ok(())
    }

    fn sample_hosts(&mut self) -> Result<(), GenError> {
        let day = T_FIRST;
        for (i, name) in ["dns0.nic.coop", "dns1.nic.coop"].into_iter().enumerate() {
            let v4 = [Ipv4Addr::new(10, 10, 10, 10 + i as u8)];
            self.write_host(&HostSpec {
                roid: FIRST_HOST_ROID + i as u64,
                name_prefix: "",
                name,
                statuses: &["ok"],
                v4: &v4,
                v6: &[],
                sponsor: 0,
                created_by: 1,
                created: day,
                updated: Some(day),
                transferred: Some(day),
                remark: None,
            })?;
        }
        // The registry's own servers also serve a few parked domains.
        self.providers.push(Provider {
            hosts: vec!["dns0.nic.coop".to_string(), "dns1.nic.coop".to_string()],
            v4: vec![Ipv4Addr::new(10, 10, 10, 10), Ipv4Addr::new(10, 10, 10, 11)],
            v6: vec![None, None],
            registrar: 0,
            coop_domain: None,
        });
        Ok(())
    }

    fn sample_domain(&mut self) -> Result<(), GenError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let day = T_FIRST;
        buf.push_str(concat!(
            "Domain-ID: 400032-COOP\n",
            "Domain-Name: test.coop\n",
            "Sponsoring-Registrar: REG-42\n",
            "Domain-Status: ok\n",
            "Registrant-ID: CNT-1002\n",
            "Admin-ID: CNT-1003\n",
            "Tech-ID: CNT-1004\n",
            "Billing-ID: CNT-1005\n",
            "Name-Server: dns0.nic.coop\n",
            "Name-Server: dns1.nic.coop\n",
            "Created-By: REG-42\n",
            "Updated-By: REG-43\n",
            "Transferred-By: REG-44\n",
        ));
        line_date(&mut buf, "Created-Date", day);
        line_date(&mut buf, "Expiry-Date", add_years(day, 2));
        line_date(&mut buf, "Updated-Date", day);
        line(&mut buf, "Auth-Info", "TestCoop-2001");
        end_record(&mut buf);
        let result = self.domain_w.write(&buf);
        self.buf = buf;
        result
    }

    // -- registrars ---------------------------------------------------------------------------

    fn registrars(&mut self) -> Result<(), GenError> {
        let count = (20 + self.opts.domains / 50_000).min(500) as usize;
        let mut ids: Vec<String> = vec!["REG-42".into(), "REG-43".into(), "REG-44".into()];
        let mut names: Vec<String> = vec!["SAMPLE".into()];
        let mut next_reg_number = 45;
        // Registrar 0 (REG-42, SAMPLE) exists already; give it contacts and write it.
        self.registrars[0].admin = vec![ContactRef { prefix: 0, num: 1010 }, ContactRef {
            prefix: 0,
            num: 1011,
        }];
        self.registrars[0].tech = vec![ContactRef { prefix: 0, num: 1012 }, ContactRef {
            prefix: 0,
            num: 1013,
        }];
        self.registrars[0].billing = vec![ContactRef { prefix: 0, num: 1014 }];
        for index in 1..count {
            let id = if index < 3 {
                ids[index].clone()
            } else if self.rng.chance(450) {
                next_reg_number += self.rng.range(1, 12);
                format!("REG-{next_reg_number}")
            } else {
                let mut id = String::new();
                id.push_str(self.rng.pick(REG_A));
                id.push_str(self.rng.pick(REG_B));
                if self.rng.chance(150) {
                    id.push_str(self.rng.pick(&["-uk", "-eu", "-us", ".ca", "_de"]));
                }
                let base_len = id.len();
                let mut n = 2;
                while ids.contains(&id) {
                    id.truncate(base_len);
                    let _ = write!(id, "{n}");
                    n += 1;
                }
                id
            };
            if index >= 3 {
                ids.push(id.clone());
            }
            let loc_index = self.loc_pick.pick(&mut self.rng);
            let loc = &LOCS[loc_index];
            let mut name = String::new();
            loop {
                name.clear();
                push_display_word(&mut name, self.rng.pick(REG_A));
                name.push(' ');
                push_display_word(&mut name, self.rng.pick(REG_B));
                name.push(' ');
                name.push_str(ORG_STYLES[loc.org].2);
                if !names.contains(&name) {
                    break;
                }
                name.insert_str(0, self.rng.pick(&["Global ", "First ", "New ", "Euro "]));
                if !names.contains(&name) {
                    break;
                }
            }
            names.push(name.clone());
            let mut slug = String::new();
            for c in name.chars().take_while(|c| *c != ' ' || slug.len() < 4) {
                push_ascii_fold(&mut slug, &c.to_string());
            }
            slug.push_str(self.rng.pick(&[".com", ".net", ".eu", ".co.uk", ".coop"]));
            let mut prefix: String =
                id.chars().filter(char::is_ascii_alphabetic).take(4).collect();
            match self.rng.below(5) {
                0 => prefix = "C".to_string(),
                1 => prefix = prefix.to_uppercase(),
                2 => prefix = prefix.to_lowercase() + "-",
                3 => prefix.push('_'),
                _ => {}
            }
            let status = if index < 3 {
                "ok"
            } else {
                match self.rng.below(1000) {
                    0..930 => "ok",
                    930..970 => "readonly",
                    _ => "terminated",
                }
            };
            self.prefixes.push(prefix);
            self.registrars.push(Registrar {
                id,
                name,
                slug,
                prefix: (self.prefixes.len() - 1) as u16,
                loc: loc_index,
                status,
                created: self.rng.time_between(T_FIRST, T_FIRST + 19 * 365 * DAY),
                admin: Vec::new(),
                tech: Vec::new(),
                billing: Vec::new(),
                recent: Vec::new(),
                recent_next: 0,
            });
            for role in 0..3 {
                let n = self.rng.range(1, 2);
                for _ in 0..n {
                    let c = self.registrar_contact(index, role)?;
                    let r = &mut self.registrars[index];
                    [&mut r.admin, &mut r.tech, &mut r.billing][role].push(c);
                }
            }
        }
        for index in 0..self.registrars.len() {
            self.write_registrar(index)?;
        }
        // Market shares: Zipf over a shuffled order, SAMPLE first; no new domains for
        // terminated registrars, few for read-only ones.
        let mut order: Vec<usize> = (1..self.registrars.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.index(i + 1);
            order.swap(i, j);
        }
        order.insert(0, 0);
        let mut weights = Vec::new();
        for (rank, &r) in order.iter().enumerate() {
            let share = 1_000_000 / (rank as u64 + 1);
            let w = match self.registrars[r].status {
                "terminated" => 0,
                "readonly" => share / 20,
                _ => share,
            };
            if w > 0 {
                self.active.push(r);
                weights.push(w);
            }
        }
        self.active_pick = Weighted::new(weights);
        Ok(())
    }

    /// A registrar's admin (0), tech (1) or billing (2) contact, also used as the shared
    /// contact of many of its domains.
    fn registrar_contact(&mut self, reg: usize, role: usize) -> Result<ContactRef, GenError> {
        let id = self.new_contact(reg);
        let loc = &LOCS[self.registrars[reg].loc];
        let addr = self.address(loc);
        let phone = self.phone(loc);
        let fax = self.rng.chance(400).then(|| self.phone(loc));
        let (name, local) = if self.rng.chance(500) {
            [("Domain Administration", "domains"), ("Hostmaster", "hostmaster"), ("Accounts", "billing")]
                [role]
        } else {
            ("", "")
        };
        let name = if name.is_empty() { self.person_name() } else { name.to_string() };
        let mut email = String::new();
        if local.is_empty() {
            push_ascii_fold(&mut email, name.split(' ').next().unwrap_or("staff"));
            email.push('.');
            push_ascii_fold(&mut email, name.rsplit(' ').next().unwrap_or("staff"));
        } else {
            email.push_str(local);
        }
        email.push('@');
        email.push_str(&self.registrars[reg].slug);
        let created = self.rng.time_between(self.registrars[reg].created, T_NOW);
        let updated = self.rng.chance(600).then(|| self.rng.time_between(created, T_NOW));
        let org = self.registrars[reg].name.clone();
        let spec = ContactSpec {
            id,
            name: &name,
            org: Some(&org),
            addr: &addr,
            phone: &phone,
            fax: fax.as_deref(),
            email: &email,
            statuses: &["ok"],
            coop: None,
            sponsor: reg,
            created_by: reg,
            created,
            updated,
            transferred: None,
            auth: true,
        };
        self.write_contact(&spec)?;
        Ok(id)
    }

    fn write_registrar(&mut self, index: usize) -> Result<(), GenError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let r = &self.registrars[index];
        line(&mut buf, "Registrar-ID", &r.id);
        line(&mut buf, "Registrar-Name", &r.name);
        let sample = index == 0;
        if !sample && self.rng.chance(900) {
            let _ = writeln!(buf, "IANA-ID: {}", 1000 + index * 17 + self.rng.index(17));
        }
        line(&mut buf, "Registrar-Status", r.status);
        let loc = &LOCS[r.loc];
        let addr = if sample { Self::sample_address(&["ADDRESS1"]) } else { self.address(loc) };
        for street in &addr.streets {
            line(&mut buf, "Street", street);
        }
        line(&mut buf, "City", &addr.city);
        if !addr.state.is_empty() {
            line(&mut buf, "State-Province", &addr.state);
        }
        line(&mut buf, "Country-Code", addr.cc);
        line(&mut buf, "Postal-Code", &addr.postal);
        if sample {
            line(&mut buf, "Phone", "+000.000000000");
            line(&mut buf, "Fax", "+000.000000000");
            line(&mut buf, "Email", "AN-OTHER-TEST@REG.COOP");
        } else {
            let phone = self.phone(loc);
            line(&mut buf, "Phone", &phone);
            if self.rng.chance(500) {
                let fax = self.phone(loc);
                line(&mut buf, "Fax", &fax);
            }
            let _ = writeln!(buf, "Email: registry-liaison@{}", r.slug);
        }
        for c in &r.admin {
            self.cid_line(&mut buf, "Admin-Contact", *c);
        }
        for c in &r.tech {
            self.cid_line(&mut buf, "Tech-Contact", *c);
        }
        for c in &r.billing {
            self.cid_line(&mut buf, "Billing-Contact", *c);
        }
        let created = r.created;
        line_date(&mut buf, "Created-Date", created);
        let updated = if sample { created } else { self.rng.time_between(created, T_NOW) };
        line_date(&mut buf, "Updated-Date", updated);
        end_record(&mut buf);
        let result = self.registrar_w.write(&buf);
        self.buf = buf;
        result
    }

    // -- name server pool ---------------------------------------------------------------------

    /// Hosting providers; `coop_budget` is how many `-dns.coop` domains may be written.
    fn providers(&mut self, coop_budget: u64) -> Result<(), GenError> {
        let count = (10 + self.opts.domains / 5000).min(1500) as usize;
        let space = (PROV_A.len() * PROV_B.len()) as u64;
        let perm = Perm::new(space, self.rng.next_u64());
        let mut coop_domains = 0;
        let mut weights = vec![10_000u64]; // the registry's own servers
        for p in 0..count {
            let round = p as u64 / space;
            let x = perm.apply(p as u64 % space, round);
            let a = PROV_A[(x % PROV_A.len() as u64) as usize];
            let b = PROV_B[(x / PROV_A.len() as u64) as usize];
            let mut base = format!("{a}{b}");
            if round > 0 {
                let _ = write!(base, "{}", round + 1);
            }
            let coop = coop_domains < coop_budget && self.rng.chance(250);
            let domain = if coop {
                coop_domains += 1;
                format!("{base}-dns.coop")
            } else {
                format!("{base}.{}", self.rng.pick(PROV_TLDS))
            };
            let style = self.rng.below(3);
            let n_hosts = [2, 2, 3, 4][self.rng.index(4)];
            let registrar = self.pick_registrar();
            let v4_base = self.random_v4();
            let v6_base = self.rng.chance(300).then(|| self.random_v6());
            let created = self.random_created();
            let mut provider = Provider {
                hosts: Vec::new(),
                v4: Vec::new(),
                v6: Vec::new(),
                registrar,
                coop_domain: None,
            };
            for h in 0..n_hosts {
                let label = match style {
                    0 => format!("ns{}", h + 1),
                    1 => format!("dns{}", h + 1),
                    _ => format!("{}.ns", char::from(b'a' + h as u8)),
                };
                let host = format!("{label}.{domain}");
                let o = v4_base.octets();
                let v4 = Ipv4Addr::new(o[0], o[1], o[2], 2 + h as u8 * 3);
                let v6 = v6_base.map(|v| {
                    let mut s = v.segments();
                    s[7] = 0x53 + h as u16;
                    Ipv6Addr::from(s)
                });
                let updated = self.rng.chance(700).then(|| self.rng.time_between(created, T_NOW));
                let roid = self.next_host;
                self.next_host += 1;
                let remark = self.rng.chance(40).then(|| self.rng.pick(HOST_REMARKS));
                self.write_host(&HostSpec {
                    roid,
                    name_prefix: "",
                    name: &host,
                    statuses: self.host_statuses(),
                    v4: &[v4],
                    v6: v6.as_slice(),
                    sponsor: registrar,
                    created_by: registrar,
                    created,
                    updated,
                    transferred: None,
                    remark,
                })?;
                provider.hosts.push(host);
                provider.v4.push(v4);
                provider.v6.push(v6);
            }
            if coop {
                let mut words = String::new();
                push_display_word(&mut words, a);
                push_display_word(&mut words, b);
                words.push_str(" Hosting");
                provider.coop_domain = Some((domain, words));
            }
            self.providers.push(provider);
            weights.push(1_000_000 / (p as u64 + 2));
        }
        self.provider_pick = Weighted::new(weights);
        Ok(())
    }

    fn host_statuses(&mut self) -> &'static [&'static str] {
        match self.rng.below(1000) {
            0..950 => &["ok"],
            950..980 => &["clientDeleteProhibited", "clientUpdateProhibited"],
            _ => &["serverDeleteProhibited", "serverUpdateProhibited"],
        }
    }

    fn random_v4(&mut self) -> Ipv4Addr {
        let a = self.rng.pick(V4_FIRST);
        Ipv4Addr::new(
            a,
            self.rng.below(256) as u8,
            self.rng.below(256) as u8,
            self.rng.range(1, 254) as u8,
        )
    }

    fn random_v6(&mut self) -> Ipv6Addr {
        Ipv6Addr::new(
            0x2a00 | self.rng.below(16) as u16,
            self.rng.below(0x10000) as u16,
            self.rng.below(0x10000) as u16,
            self.rng.below(0x100) as u16,
            0,
            0,
            0,
            self.rng.range(1, 0xff) as u16,
        )
    }

    /// A creation time: half uniform since 2001-05-05, half in the last eight years.
    fn random_created(&mut self) -> i64 {
        let from = if self.rng.chance(500) { T_FIRST } else { T_NOW - 8 * 365 * DAY };
        self.rng.time_between(from, T_NOW - DAY)
    }

    // -- domains ------------------------------------------------------------------------------

    fn random_domain(&mut self) -> Result<(), GenError> {
        let mut name = String::with_capacity(48);
        let mut words = String::with_capacity(48);
        let has_org_word = if self.rng.chance(20) {
            let mut u_label = String::with_capacity(48);
            let has = self.idn_names.next(&mut self.rng, &mut u_label, &mut words);
            u_label.push_str(".coop");
            name = idna::domain_to_ascii(&u_label).map_err(|e| GenError::Idna {
                path: self.domain_w.path.clone(),
                name: u_label.clone(),
                reason: e.to_string(),
            })?;
            has
        } else {
            let has = self.ascii_names.next(&mut self.rng, &mut name, &mut words);
            name.push_str(".coop");
            has
        };
        let reg = self.pick_registrar();
        self.domain(&name, &words, has_org_word, reg, None)
    }

    /// Writes a domain and the contacts and hosts only it brings. `own_provider` is set for a
    /// provider's `-dns.coop` domain, delegated to the provider's own hosts.
    fn domain(
        &mut self,
        name: &str,
        words: &str,
        has_org_word: bool,
        reg: usize,
        own_provider: Option<usize>,
    ) -> Result<(), GenError> {
        let roid = self.next_domain;
        self.next_domain += 1;
        let created = match own_provider {
            Some(_) => self.rng.time_between(T_FIRST, T_NOW - 3 * 365 * DAY),
            None => self.random_created(),
        };
        let transferred = (self.rng.chance(100) && T_NOW - created > 120 * DAY)
            .then(|| self.rng.time_between(created + 60 * DAY, T_NOW - 30 * DAY));
        let creator = if transferred.is_some() { self.other_registrar(reg) } else { reg };
        let last_event = transferred.unwrap_or(created);
        let updated = self.rng.chance(950).then(|| self.rng.time_between(last_event, T_NOW));
        let events = Events { sponsor: reg, creator, created, transferred };

        // Registrant: sometimes one that already holds a domain at this registrar.
        let reuse = own_provider.is_none()
            && !self.registrars[reg].recent.is_empty()
            && self.rng.chance(150);
        let (registrant, household) = if reuse {
            let recent = &self.registrars[reg].recent;
            (recent[self.rng.index(recent.len())], None)
        } else {
            let (c, h) = self.registrant(name, words, has_org_word, &events)?;
            (c, Some(h))
        };

        // Admin, tech and billing: the registrant, the registrar's shared contact or a person.
        let mut dedicated: Option<ContactRef> = None;
        let mut roles: [[Option<ContactRef>; 2]; 3] = [[None; 2]; 3];
        for (role, odds) in [(0, (400, 350)), (1, (250, 550)), (2, (450, 300))] {
            let x = self.rng.below(1000);
            let first = if x < odds.0 {
                registrant
            } else if x < odds.0 + odds.1 {
                self.shared_contact(reg, role)
            } else if role == 1 && dedicated.is_some() && self.rng.chance(300) {
                self.dedicated(name, household.as_ref(), &events)?
            } else {
                match dedicated {
                    Some(c) => c,
                    None => {
                        let c = self.dedicated(name, household.as_ref(), &events)?;
                        dedicated = Some(c);
                        c
                    }
                }
            };
            roles[role][0] = Some(first);
            if self.rng.chance(30) {
                let second = self.shared_contact(reg, role);
                if second != first {
                    roles[role][1] = Some(second);
                }
            }
        }

        // Name servers.
        let mut ns: Vec<NsRef> = Vec::with_capacity(4);
        let mut own_hosts = 0;
        if let Some(p) = own_provider {
            ns.extend((0..self.providers[p].hosts.len()).map(|h| NsRef::Pool(p, h)));
        } else {
            let x = self.rng.below(1000);
            if x < 12 {
                // no name servers: the domain is inactive
            } else if x < 112 {
                own_hosts = if self.rng.chance(200) { 3 } else { 2 };
                ns.extend((0..own_hosts).map(NsRef::Own));
                if own_hosts == 2 && self.rng.chance(250) {
                    let p = self.provider_pick.pick(&mut self.rng);
                    ns.push(NsRef::Pool(p, 0));
                }
            } else {
                let p = self.provider_pick.pick(&mut self.rng);
                let n = self.providers[p].hosts.len();
                let take = if n > 2 && self.rng.chance(300) { 2 } else { n };
                ns.extend((0..take).map(|h| NsRef::Pool(p, h)));
                if ns.len() < 4 && self.rng.chance(50) {
                    let q = self.provider_pick.pick(&mut self.rng);
                    if q != p {
                        ns.push(NsRef::Pool(q, 0));
                    }
                }
            }
        }
        for i in 0..own_hosts {
            self.own_host(name, i, &events)?;
        }

        let statuses = self.domain_statuses(!ns.is_empty());
        let expiry = self.expiry(created, statuses == ["pendingDelete"]);
        let remark = self.rng.chance(50).then(|| self.rng.pick(DOMAIN_REMARKS));

        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let _ = writeln!(buf, "Domain-ID: {roid}-COOP");
        line(&mut buf, "Domain-Name", name);
        self.reg_line(&mut buf, "Sponsoring-Registrar", reg);
        for status in statuses {
            line(&mut buf, "Domain-Status", status);
        }
        self.cid_line(&mut buf, "Registrant-ID", registrant);
        for (role, t) in ["Admin-ID", "Tech-ID", "Billing-ID"].into_iter().enumerate() {
            for c in roles[role].iter().flatten() {
                self.cid_line(&mut buf, t, *c);
            }
        }
        for n in &ns {
            tag(&mut buf, "Name-Server");
            match *n {
                NsRef::Pool(p, h) => buf.push_str(&self.providers[p].hosts[h]),
                NsRef::Own(i) => {
                    let _ = write!(buf, "ns{}.{name}", i + 1);
                }
            }
            buf.push('\n');
        }
        self.reg_line(&mut buf, "Created-By", creator);
        if updated.is_some() {
            self.reg_line(&mut buf, "Updated-By", reg);
        }
        if transferred.is_some() {
            self.reg_line(&mut buf, "Transferred-By", reg);
        }
        if let Some(remark) = remark {
            line(&mut buf, "Registrar-Remark", remark);
        }
        line_date(&mut buf, "Created-Date", created);
        line_date(&mut buf, "Expiry-Date", expiry);
        if let Some(t) = updated {
            line_date(&mut buf, "Updated-Date", t);
        }
        if let Some(t) = transferred {
            line_date(&mut buf, "Transferred-Date", t);
        }
        tag(&mut buf, "Auth-Info");
        self.auth_info(&mut buf);
        buf.push('\n');
        end_record(&mut buf);
        let result = self.domain_w.write(&buf);
        self.buf = buf;
        result
    }

    fn domain_statuses(&mut self, has_ns: bool) -> &'static [&'static str] {
        if !has_ns {
            return &["inactive"];
        }
        match self.rng.below(1000) {
            0..790 => &["ok"],
            790..850 => &["clientTransferProhibited"],
            850..900 => &["clientTransferProhibited", "clientUpdateProhibited"],
            900..920 => &["clientDeleteProhibited", "clientTransferProhibited", "clientUpdateProhibited"],
            920..935 => &["serverDeleteProhibited", "serverTransferProhibited", "serverUpdateProhibited"],
            935..955 => &["serverHold"],
            955..962 => &["clientHold"],
            962..975 => &["serverHold", "clientTransferProhibited"],
            975..990 => &["pendingDelete"],
            990..995 => &["pendingTransfer"],
            995..998 => &["clientRenewProhibited", "clientTransferProhibited"],
            _ => &["pendingUpdate"],
        }
    }

    /// Expiry: the anniversary of creation after the last renewal, so most domains expire
    /// within the next year or three; `expired` (and a few others) lapsed already.
    fn expiry(&mut self, created: i64, expired: bool) -> i64 {
        let mut years = 1;
        while add_years(created, years) <= T_NOW - 30 * DAY {
            years += 1;
        }
        if expired || self.rng.chance(20) {
            years = (years - 1).max(1);
        } else {
            years += match self.rng.below(100) {
                0..70 => 0,
                70..90 => 1,
                _ => self.rng.range(2, 4) as i64,
            };
        }
        add_years(created, years)
    }

    fn shared_contact(&mut self, reg: usize, role: usize) -> ContactRef {
        let r = &self.registrars[reg];
        let list = [&r.admin, &r.tech, &r.billing][role];
        list[self.rng.index(list.len())]
    }

    /// A new registrant for the domain `name`.
    fn registrant(
        &mut self,
        name: &str,
        words: &str,
        has_org_word: bool,
        ev: &Events,
    ) -> Result<(ContactRef, Household), GenError> {
        let id = self.new_contact(ev.sponsor);
        let loc_index = self.loc_pick.pick(&mut self.rng);
        let loc = &LOCS[loc_index];
        let (templates, short, _) = ORG_STYLES[loc.org];
        let mut org = String::with_capacity(64);
        if has_org_word {
            org.push_str(words);
            if !short.is_empty() && self.rng.chance(500) {
                org.push(' ');
                org.push_str(short);
            }
        } else {
            push_template(&mut org, self.rng.pick(templates), words);
        }
        let person = if self.rng.chance(850) {
            self.person_name()
        } else {
            self.rng.pick(ROLE_NAMES).to_string()
        };
        let addr = self.address(loc);
        let phone = self.phone(loc);
        let fax = self.rng.chance(250).then(|| self.phone(loc));
        let domain_part = name;
        let mut email = String::with_capacity(48);
        if self.rng.chance(500) || !person.contains(' ') || ROLE_NAMES.contains(&person.as_str()) {
            email.push_str(self.rng.pick(EMAIL_LOCALS));
        } else {
            push_email_person(&mut email, &person);
        }
        email.push('@');
        email.push_str(domain_part);
        let verification = match self.rng.below(1000) {
            0..900 => "verified",
            900..940 => "pendingVerification",
            940..970 => "underInvestigation",
            970..990 => "ableToAppeal",
            _ => "refused",
        };
        let a = self.rng.index(self.sponsors.len());
        let mut b = self.rng.index(self.sponsors.len() - 1);
        if b >= a {
            b += 1;
        }
        let sponsors = vec![self.sponsors[a], self.sponsors[b]];
        let lang = if self.rng.chance(850) { loc.lang } else { self.rng.pick(&["en", "fr", "es", "de"]) };
        let ens = self.next_ens;
        self.next_ens += 1;
        let created = ev.created - self.rng.below(3 * DAY as u64) as i64;
        let updated = self.rng.chance(700).then(|| {
            let from = ev.transferred.unwrap_or(created);
            self.rng.time_between(from, T_NOW)
        });
        let statuses = self.contact_statuses();
        let spec = ContactSpec {
            id,
            name: &person,
            org: Some(&org),
            addr: &addr,
            phone: &phone,
            fax: fax.as_deref(),
            email: &email,
            statuses,
            coop: Some(CoopExt {
                ens,
                verification,
                sponsors,
                lang,
                mailing: self.rng.chance(350),
            }),
            sponsor: ev.sponsor,
            created_by: ev.creator,
            created,
            updated,
            transferred: ev.transferred,
            auth: true,
        };
        self.write_contact(&spec)?;
        // Remember it for later domains of the same holder, and as a future sponsor.
        let r = &mut self.registrars[ev.sponsor];
        if r.recent.len() < REGISTRANT_RING {
            r.recent.push(id);
        } else {
            r.recent[r.recent_next] = id;
            r.recent_next = (r.recent_next + 1) % REGISTRANT_RING;
        }
        if verification == "verified" {
            if self.sponsors.len() < SPONSOR_POOL {
                self.sponsors.push(id);
            } else {
                self.sponsors[self.sponsor_next] = id;
                self.sponsor_next = (self.sponsor_next + 1) % SPONSOR_POOL;
            }
        }
        Ok((id, Household { org, addr, loc: loc_index }))
    }

    /// A person dedicated to one domain (often at the registrant's address).
    fn dedicated(
        &mut self,
        name: &str,
        household: Option<&Household>,
        ev: &Events,
    ) -> Result<ContactRef, GenError> {
        let id = self.new_contact(ev.sponsor);
        let (loc_index, addr) = match household {
            Some(h) if self.rng.chance(600) => (h.loc, h.addr.clone()),
            _ => {
                let l = self.loc_pick.pick(&mut self.rng);
                (l, self.address(&LOCS[l]))
            }
        };
        let loc = &LOCS[loc_index];
        let org = household.filter(|_| self.rng.chance(700)).map(|h| h.org.as_str());
        let person = self.person_name();
        let phone = self.phone(loc);
        let fax = self.rng.chance(100).then(|| self.phone(loc));
        let mut email = String::with_capacity(48);
        push_email_person(&mut email, &person);
        email.push('@');
        email.push_str(name);
        let created = ev.created - self.rng.below(DAY as u64) as i64;
        let updated = self.rng.chance(500).then(|| self.rng.time_between(created, T_NOW));
        let statuses = self.contact_statuses();
        let spec = ContactSpec {
            id,
            name: &person,
            org,
            addr: &addr,
            phone: &phone,
            fax: fax.as_deref(),
            email: &email,
            statuses,
            coop: None,
            sponsor: ev.sponsor,
            created_by: ev.creator,
            created,
            updated,
            transferred: ev.transferred,
            auth: true,
        };
        self.write_contact(&spec)?;
        Ok(id)
    }

    /// The domain's own host `ns<i+1>.<name>`, with glue.
    fn own_host(&mut self, name: &str, i: usize, ev: &Events) -> Result<(), GenError> {
        let mut v4 = Vec::with_capacity(2);
        let mut v6 = Vec::with_capacity(1);
        if self.providers.len() > 1 && self.rng.chance(600) {
            // Vanity name server on a hosting provider's shared address.
            let p = 1 + self.rng.index(self.providers.len() - 1).min(self.rng.index(40));
            let prov = &self.providers[p];
            let h = i % prov.hosts.len();
            v4.push(prov.v4[h]);
            v6.extend(prov.v6[h]);
        } else {
            v4.push(self.random_v4());
            if self.rng.chance(300) {
                v6.push(self.random_v6());
            } else if self.rng.chance(100) {
                v4.push(self.random_v4());
            }
        }
        let prefix = ["ns1.", "ns2.", "ns3.", "ns4."][i.min(3)];
        let roid = self.next_host;
        self.next_host += 1;
        let created = ev.transferred.unwrap_or(ev.created);
        let updated = self.rng.chance(400).then(|| self.rng.time_between(created, T_NOW));
        let statuses = self.host_statuses();
        self.write_host(&HostSpec {
            roid,
            name_prefix: prefix,
            name,
            statuses,
            v4: &v4,
            v6: &v6,
            sponsor: ev.sponsor,
            created_by: ev.sponsor,
            created,
            updated,
            transferred: None,
            remark: None,
        })
    }
}

/// Appends `first.last` (ASCII-folded) for a person's name.
fn push_email_person(out: &mut String, person: &str) {
    let mut parts = person.split(' ');
    let first = parts.next().unwrap_or("member");
    let last = parts.next_back().unwrap_or("member");
    push_ascii_fold(out, first);
    out.push('.');
    push_ascii_fold(out, last);
}

/// Who holds a domain and when it was created and transferred.
#[derive(Debug)]
struct Events {
    sponsor: usize,
    creator: usize,
    created: i64,
    transferred: Option<i64>,
}

/// A new registrant's organisation, address and place, shared with its domain's people.
#[derive(Debug)]
struct Household {
    org: String,
    addr: Address,
    loc: usize,
}

/// Everything in one nameserver record; the host name is `name_prefix` + `name`.
#[derive(Debug)]
struct HostSpec<'a> {
    roid: u64,
    name_prefix: &'static str,
    name: &'a str,
    statuses: &'static [&'static str],
    v4: &'a [Ipv4Addr],
    v6: &'a [Ipv6Addr],
    sponsor: usize,
    created_by: usize,
    created: i64,
    updated: Option<i64>,
    transferred: Option<i64>,
    remark: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn placeholder() {
        let _ = GenOptions::default();
    }
}
