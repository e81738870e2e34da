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
//! shared by many hosts), EPP statuses, dates between 2001-05-05 and 2026-03-01 and transfers
//! (about 10%). A domain's Expiry-Date is the anniversary of its creation that follows its
//! last renewal, so most expire within the next few years (a few have lapsed) and old domains
//! expire more than ten years after creation. Expect roughly 1.4 contacts and 0.16 name
//! servers per domain, plus the shared objects.
//!
//! # Determinism
//!
//! Everything is drawn from a xoshiro256** generator written in this file and seeded with
//! [`GenOptions::seed`], and no clock is read (dates are relative to a fixed 2026-03-01), so
//! the same seed and domain count give a byte-identical tree on every machine and every
//! version of the dependencies (the records-per-file option only moves the file boundaries).
//! Domain names are unique by construction (a seeded permutation over each name pattern, then
//! numbered rounds), so memory stays proportional to the shared objects (registrars,
//! providers), not to the output; a second thread does the file writes, fed through a small
//! bounded queue.
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
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use crate::schema::SHIPPED_SCHEMAS;

/// Seed used when none is given ("COOP SEED").
const DEFAULT_SEED: u64 = 0xC00F_5EED;
/// Records per data file when not told otherwise.
const DEFAULT_RECORDS_PER_FILE: usize = 250_000;
/// How often (in domains) the progress callback is called.
const PROGRESS_EVERY: u64 = 10_000;

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
        GenOptions {
            domains: 1000,
            seed: DEFAULT_SEED,
            records_per_file: DEFAULT_RECORDS_PER_FILE,
        }
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
    GenError::Io {
        path: path.to_path_buf(),
        source,
    }
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
            GenError::OutputExists {
                path: data_dir.clone(),
            }
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
        Rng {
            s: [
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
            ],
        }
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
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
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
        self.cum
            .partition_point(|&c| c <= x)
            .min(self.cum.len().saturating_sub(1))
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
        Perm {
            n,
            half_bits,
            mask: (1u64 << half_bits) - 1,
            key,
        }
    }

    /// The image of `x` (< n) under the permutation keyed by `round`.
    fn apply(&self, x: u64, round: u64) -> u64 {
        let k = mix64(self.key ^ round.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut y = x;
        loop {
            let mut l = y >> self.half_bits;
            let mut r = y & self.mask;
            for i in 0..4u64 {
                let f =
                    mix64(r ^ k.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) & self.mask;
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
const PRE: &str = "\
    acorn alder alpine amber anchor aspen atlantic autumn bay beacon birch blue bramble bridge \
    bright brook canyon castle cedar central city clear clover coast coastal common compass county \
    crown dale delta east eastern emerald equity evergreen fair fairshare first forest frontier \
    garden glen golden good grand great green harbour harmony harvest hazel heather heritage \
    highland hill horizon island juniper lake lantern lavender liberty little local lowland maple \
    meadow mesa metro midland moor mountain new north northern oak ocean old open orchard pacific \
    people pine pioneer polar prairie rainbow ridge river riverside rowan rural saffron silver \
    south southern spring star stone summit sunny sunrise thistle town true unity upland urban \
    valley village west western wild willow aberdeen auckland austin belfast bergen berkeley \
    bologna boulder brisbane bristol cardiff dublin glasgow halifax hamburg kerala leeds leipzig \
    lisbon lyon madison manchester melbourne mondragon nairobi nantes oslo ottawa portland \
    rochdale seattle toronto vermont wellington winnipeg";

/// Trades and sectors of cooperatives.
const TRADE: &str = "\
    artisans artists bakers bakery bank beekeepers berries bikes books brewers brewery broadband \
    builders butchers cabs cafe care carers carpenters cattle cheese childcare cinema cleaners \
    cocoa coffee college consulting couriers crafts creamery credit cycles dairy data dental \
    design digital electricians energy farm farmers finance fishers fitness foods forestry freight \
    funeral grain grocers growers hardware health homes honey hostel housing insurance kitchen \
    learning legal loans lumber makers market media meat millers movers musicians nursery nurses \
    olive organics painters pharmacy plumbers press printers produce pub radio ranchers recycling \
    repair rice savings school seafood seeds sheep shop software solar sports store students sugar \
    supply taxi tea tech textiles theatre timber tours transport travel tutors vintners water \
    weavers wind winery wool workers";

/// Words naming the kind of organisation.
const ORG: &str = "\
    alliance association circle collective commons coop cooperative council exchange federation \
    group guild league members mutual network partners society trust union";

/// Lowercase NFC words that each contain at least one non-ASCII letter (Latin script only).
const IDN: &str = "\
    açaí agrícola åker bäcker bäckerei bønder brød bücher bürger café château coopérative coruña \
    côte crédito crème éco école educación élevage énergie energía épicerie forêt fromagère genève \
    göteborg grün jönköping käserei köln kraków lechería liège łódź malmö mühle münchen niños \
    økologisk panadería pão québec señal smør société spółdzielnia tromsø união växjö wärme zürich \
    ærø";

/// A way of building a name: word lists (whitespace-separated words) joined by separators
/// (the first separator is empty).
#[derive(Debug)]
struct Pattern {
    parts: &'static [(&'static str, &'static str)],
    weight: u64,
    /// Whether one of the parts is an [`ORG`] word (the name says what kind of body it is).
    org: bool,
}

/// Splits a word list.
fn words(list: &'static str) -> Vec<&'static str> {
    list.split_whitespace().collect()
}

/// ASCII domain name patterns.
const ASCII_PATTERNS: &[Pattern] = &[
    Pattern {
        parts: &[("", PRE), ("", TRADE)],
        weight: 24,
        org: false,
    },
    Pattern {
        parts: &[("", PRE), ("-", TRADE)],
        weight: 20,
        org: false,
    },
    Pattern {
        parts: &[("", TRADE), ("", ORG)],
        weight: 6,
        org: true,
    },
    Pattern {
        parts: &[("", TRADE), ("-", ORG)],
        weight: 10,
        org: true,
    },
    Pattern {
        parts: &[("", PRE), ("-", ORG)],
        weight: 5,
        org: true,
    },
    Pattern {
        parts: &[("", PRE), ("-", TRADE), ("-", ORG)],
        weight: 20,
        org: true,
    },
    Pattern {
        parts: &[("", PRE), ("", TRADE), ("-", ORG)],
        weight: 8,
        org: true,
    },
];

/// Internationalized domain name patterns (U-labels; every one has an [`IDN`] word).
const IDN_PATTERNS: &[Pattern] = &[
    Pattern {
        parts: &[("", IDN), ("-", TRADE)],
        weight: 40,
        org: false,
    },
    Pattern {
        parts: &[("", IDN), ("-", ORG)],
        weight: 15,
        org: true,
    },
    Pattern {
        parts: &[("", PRE), ("-", IDN)],
        weight: 20,
        org: false,
    },
    Pattern {
        parts: &[("", IDN), ("-", IDN)],
        weight: 10,
        org: false,
    },
    Pattern {
        parts: &[("", IDN)],
        weight: 5,
        org: false,
    },
];

/// First and second halves of hosting provider names (concatenated).
const PROV_A: &str = "\
    green blue red open free fair mutual coop civic commons union people solid swift bright clear \
    kind simple secure rapid prime north south metro river hill star sun moon orbit pixel maple \
    cedar harbour beacon anchor summit delta vertex nova";
const PROV_B: &str = "\
    host hosting net networks web cloud it tech systems servers data online link wire space";
/// Top-level suffixes of providers outside .coop.
const PROV_TLDS: &[&str] = &[
    "net", "com", "org", "eu", "co.uk", "de", "fr", "nl", "ch", "es", "org.uk", "ca", "it", "se",
];

/// Registrar client-ID halves.
const REG_A: &str = "\
    coop mutual fair open green common union people civic key domain name web net alpha atlas \
    beacon harbour meridian pioneer summit true north poptel";
const REG_B: &str = "\
    names domains reg registry net hosting online isp web dns registrar direct";

const FIRST_NAMES: &str = "\
    Alice Amara Ana Andrés Anna Astrid Ben Bjørn Carlos Chen Chloé Claire Daniel David Diego Ewa \
    Fatima François Gabriel Grace Hannah Hiroshi Ian Ingrid Isabel James Jean Jiří João José Julia \
    Karin Kofi Lars Laura Liam Lucía Łukasz Maria Mark Martín Mei Mohammed Nadia Niamh Noah Olivia \
    Omar Paul Pedro Priya Rahul Rosa Ruth Sam Sarah Siobhán Sofia Søren Tomasz Ursula Wanjiru \
    Yusuf Zoë";
const LAST_NAMES: &str = "\
    Adeyemi Andersen Bauer Brown Campbell Chen Clarke Costa Dubois Evans Fernández Fischer García \
    Gómez Hansen Hughes Ivanova Jensen Jones Kamau Kowalski Larsen Lefèvre López MacDonald Martin \
    Mendes Moreau Müller Murphy Nakamura Nguyen Nowak O'Brien O'Connor Okafor Olsen Patel Pereira \
    Petit Ramírez Rossi Santos Schmidt Schneider Silva Singh Smith Taylor Thomas Walsh Wang Weber \
    Williams Wilson Wójcik Yamamoto Zieliński Østergaard Åberg Łukasiewicz";
const ROLE_NAMES: &[&str] = &[
    "Secretary",
    "Membership Secretary",
    "General Manager",
    "Board of Directors",
    "Office Manager",
];
const EMAIL_LOCALS: &[&str] = &[
    "info",
    "office",
    "admin",
    "hello",
    "contact",
    "secretary",
    "membership",
    "enquiries",
];

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

/// The places, one a line: city | state | postal-code pattern | country | phone country code |
/// area code | further digits | language | street style | org style | weight.
const PLACES: &str = "
    Manchester|Greater Manchester|M# #@@|GB|44|161|7|en|0|0|12
    London||EC#@ #@@|GB|44|20|8|en|0|0|8
    Leeds|West Yorkshire|LS# #@@|GB|44|113|7|en|0|0|5
    Glasgow|Lanarkshire|G# #@@|GB|44|141|7|en|0|0|4
    Cardiff|South Glamorgan|CF## #@@|GB|44|29|8|en|0|0|3
    Rochdale|Lancashire|OL## #@@|GB|44|1706|6|en|0|0|2
    Bristol||BS# #@@|GB|44|117|7|en|0|0|4
    Madison|WI|537##|US|1|608|7|en|0|1|6
    Minneapolis|MN|554##|US|1|612|7|en|0|1|5
    Seattle|WA|981##|US|1|206|7|en|0|1|4
    Arlington|VA|222##|US|1|703|7|en|0|1|4
    Burlington|VT|054##|US|1|802|7|en|0|1|3
    Austin|TX|787##|US|1|512|7|en|0|1|3
    Berkeley|CA|947##|US|1|510|7|en|0|1|3
    Washington|DC|200##|US|1|202|7|en|0|1|2
    Winnipeg|MB|R#@ #@#|CA|1|204|7|en|0|2|3
    Saskatoon|SK|S#@ #@#|CA|1|306|7|en|0|2|2
    Québec|QC|G#@ #@#|CA|1|418|7|fr|2|2|2
    Montréal|QC|H#@ #@#|CA|1|514|7|fr|2|2|2
    Ottawa|ON|K#@ #@#|CA|1|613|7|en|0|2|2
    Paris|Île-de-France|750##|FR|33|1|8|fr|2|3|3
    Lyon|Auvergne-Rhône-Alpes|6900#|FR|33|4|8|fr|2|3|2
    Nantes|Pays de la Loire|440##|FR|33|2|8|fr|2|3|1
    Brussels|Brussels-Capital|1000|BE|32|2|7|fr|2|3|1
    Berlin|Berlin|10###|DE|49|30|8|de|1|4|2
    München|Bayern|80###|DE|49|89|8|de|1|4|2
    Köln|Nordrhein-Westfalen|50###|DE|49|221|7|de|1|4|1
    Zürich|ZH|80##|CH|41|44|7|de|1|4|2
    Genève|GE|12##|CH|41|22|7|fr|2|3|1
    Wien|Wien|1###|AT|43|1|7|de|1|4|1
    Mondragón|Gipuzkoa|20500|ES|34|943|6|es|3|5|2
    Madrid|Madrid|280##|ES|34|91|7|es|3|5|2
    A Coruña|A Coruña|150##|ES|34|981|6|es|3|5|1
    São Paulo|SP|0####-###|BR|55|11|8|es|3|5|2
    Buenos Aires|CABA|C####@@@|AR|54|11|8|es|3|5|1
    Bologna|BO|401##|IT|39|051|7|en|4|6|2
    Łódź|łódzkie|9#-###|PL|48|42|7|en|5|7|1
    Kraków|małopolskie|3#-###|PL|48|12|7|en|5|7|1
    Malmö|Skåne|2## ##|SE|46|40|7|en|6|8|1
    Aarhus||8000|DK|45||8|en|6|8|1
    Tromsø|Troms|90##|NO|47||8|en|6|8|1
    Dublin|Co. Dublin|D0# @#@#|IE|353|1|7|en|0|9|2
    Wellington||6011|NZ|64|4|7|en|0|9|1
    Melbourne|VIC|3###|AU|61|3|8|en|0|9|2
    Nairobi|Nairobi|00100|KE|254|20|7|en|0|9|1
    Anand|Gujarat|3880##|IN|91|2692|6|en|0|9|1
    Tokyo|Tokyo|1##-####|JP|81|3|8|en|0|9|1
";

/// The parsed [`PLACES`].
fn locs() -> &'static [Loc] {
    static TABLE: OnceLock<Vec<Loc>> = OnceLock::new();
    TABLE.get_or_init(|| {
        PLACES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&'static str> = l.split('|').collect();
                let field = |i: usize| f.get(i).copied().unwrap_or("");
                let number = |i: usize| field(i).parse::<u64>().unwrap_or(0);
                Loc {
                    city: field(0),
                    state: field(1),
                    postal: field(2),
                    cc: field(3),
                    phone_cc: field(4),
                    area: field(5),
                    digits: number(6) as u8,
                    lang: field(7),
                    street: number(8) as usize,
                    org: number(9) as usize,
                    weight: number(10),
                }
            })
            .collect()
    })
}

/// Street templates (`{n}` house number, `{s}` street name) and names, by street style.
const STREET_STYLES: &[(&[&str], &[&str])] = &[
    (
        &[
            "{n} {s} Street",
            "{n} {s} Road",
            "{n} {s} Lane",
            "{n} {s} Avenue",
            "{n} {s} Way",
        ],
        &[
            "Market", "Church", "Mill", "Station", "Victoria", "King", "Queen", "Park", "High",
            "Bridge", "Garden", "Union", "Lincoln", "Maple", "Cedar", "Holyoake", "Owen", "Toad",
        ],
    ),
    (
        &[
            "{s}straße {n}",
            "{s}weg {n}",
            "{s}platz {n}",
            "{s}gasse {n}",
        ],
        &[
            "Bahnhof",
            "Linden",
            "Goethe",
            "Schiller",
            "Markt",
            "Raiffeisen",
            "Kirch",
            "Mühlen",
        ],
    ),
    (
        &[
            "{n} rue {s}",
            "{n} avenue {s}",
            "{n} boulevard {s}",
            "{n} place {s}",
        ],
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
        &[
            "Calle {s} {n}",
            "Avenida {s}, {n}",
            "Rua {s}, {n}",
            "Plaza {s} {n}",
        ],
        &[
            "Mayor",
            "San Martín",
            "Arizmendiarrieta",
            "de la Constitución",
            "Real",
            "do Comércio",
        ],
    ),
    (
        &["Via {s} {n}", "Piazza {s} {n}", "Viale {s} {n}"],
        &[
            "Garibaldi",
            "Mazzini",
            "Roma",
            "Dante",
            "Verdi",
            "Marconi",
            "della Cooperazione",
        ],
    ),
    (
        &["ul. {s} {n}", "al. {s} {n}"],
        &[
            "Piotrkowska",
            "Kościuszki",
            "Mickiewicza",
            "Długa",
            "Floriańska",
            "Spółdzielcza",
        ],
    ),
    (
        &["{s}gatan {n}", "{s}vej {n}", "{s}veien {n}", "{s}gade {n}"],
        &[
            "Stor", "Kyrko", "Havne", "Skole", "Møller", "Strand", "Åsen",
        ],
    ),
];
const STREET_LINE2: &[&str] = &[
    "Unit {n}",
    "Suite {n}",
    "Floor {n}",
    "Room {n}",
    "PO Box {n}",
];
const STREET_LINE3: &[&str] = &[
    "The Old Mill",
    "The Old Dairy",
    "Cooperative Centre",
    "Station House",
    "Granary Yard",
];

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
        &[
            "{} Cooperative",
            "{} Cooperative, Inc.",
            "{} Co-op",
            "{} Cooperative Association",
        ],
        "Inc.",
        "Inc.",
    ),
    (
        &["{} Co-operative Ltd.", "{} Co-op", "Coopérative {}"],
        "Ltd.",
        "Inc.",
    ),
    (
        &["{} SCOP", "Société coopérative {}", "{} SCIC"],
        "SCOP",
        "SAS",
    ),
    (
        &["{} eG", "{} Genossenschaft", "Genossenschaft {}"],
        "eG",
        "GmbH",
    ),
    (
        &["{} S. Coop.", "Cooperativa {}", "{} Cooperativa Ltda."],
        "S. Coop.",
        "S.L.",
    ),
    (
        &["{} Società Cooperativa", "{} Soc. Coop. a r.l."],
        "Soc. Coop.",
        "S.r.l.",
    ),
    (&["Spółdzielnia {}"], "", "sp. z o.o."),
    (
        &["{} Andelsforening", "{} Ekonomisk förening", "{} SA"],
        "",
        "AB",
    ),
    (
        &[
            "{} Co-operative Society",
            "{} Cooperative Ltd",
            "{} Co-operative",
        ],
        "Ltd",
        "Ltd",
    ),
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
/// A [`Pattern`] ready for use.
#[derive(Debug)]
struct NamePattern {
    /// (separator, words) per part.
    parts: Vec<(&'static str, Vec<&'static str>)>,
    /// Number of base names.
    size: u64,
    perm: Perm,
    org: bool,
}

#[derive(Debug)]
struct NameSpace {
    patterns: Vec<NamePattern>,
    counters: Vec<u64>,
    pick: Weighted,
}

impl NameSpace {
    fn new(patterns: &'static [Pattern], rng: &mut Rng) -> NameSpace {
        let weights = Weighted::new(patterns.iter().map(|p| p.weight));
        let patterns: Vec<_> = patterns
            .iter()
            .map(|p| {
                let parts: Vec<_> = p
                    .parts
                    .iter()
                    .map(|&(sep, list)| (sep, words(list)))
                    .collect();
                let size = parts.iter().map(|(_, w)| w.len() as u64).product();
                NamePattern {
                    parts,
                    size,
                    perm: Perm::new(size, rng.next_u64()),
                    org: p.org,
                }
            })
            .collect();
        NameSpace {
            counters: vec![0; patterns.len()],
            pick: weights,
            patterns,
        }
    }

    /// Appends base name number `x` (< the pattern's size) of pattern `p` to `name`, and its
    /// words in display form to `display`.
    fn base_name(&self, p: usize, mut x: u64, name: &mut String, display: &mut String) {
        for (sep, list) in &self.patterns[p].parts {
            let len = list.len() as u64;
            let word = list[(x % len) as usize];
            x /= len;
            name.push_str(sep);
            name.push_str(word);
            if !display.is_empty() {
                display.push(' ');
            }
            push_display_word(display, word);
        }
    }

    /// Appends the next name to `name` and its words in display form to `display`; returns
    /// whether the name has a word saying what kind of organisation it is.
    fn next(&mut self, rng: &mut Rng, name: &mut String, display: &mut String) -> bool {
        let p = self.pick.pick(rng);
        let (size, org) = (self.patterns[p].size, self.patterns[p].org);
        let count = self.counters[p];
        self.counters[p] += 1;
        let x = self.patterns[p].perm.apply(count % size, count / size);
        self.base_name(p, x, name, display);
        if count >= size {
            let _ = write!(name, "{}", count / size + 1);
        }
        org
    }
}

/// Appends a name word capitalized for display ("coop" becomes "Co-op", "dns" "DNS").
fn push_display_word(out: &mut String, word: &str) {
    let special = match word {
        "coop" => "Co-op",
        "dns" => "DNS",
        "isp" => "ISP",
        "it" => "IT",
        _ => "",
    };
    if !special.is_empty() {
        out.push_str(special);
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

/// Size of the text chunks handed to the writer thread.
const CHUNK: usize = 512 * 1024;
/// Chunks that may wait for the writer thread.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Work for the writer thread.
#[derive(Debug)]
enum Job {
    /// Create the next file of the class in slot `.0`, closing its previous one.
    Open(usize, PathBuf),
    /// Append text to the current file of slot `.0`.
    Data(usize, String),
}

/// The writer thread, so that file system writes overlap with generation. Chunks go through
/// a bounded channel and come back empty for reuse, so memory stays bounded.
#[derive(Debug)]
struct Sink {
    dir: PathBuf,
    jobs: Option<SyncSender<Job>>,
    spare: Receiver<String>,
    worker: Option<JoinHandle<Result<(), GenError>>>,
}

impl Sink {
    fn start(data_dir: &Path) -> Result<Sink, GenError> {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(CHUNKS_IN_FLIGHT);
        let (give_back, spare) = mpsc::channel::<String>();
        let worker = thread::Builder::new()
            .name("mkdb-gen-writer".to_string())
            .spawn(move || write_jobs(&inbox, &give_back))
            .map_err(|e| io_err(data_dir, e))?;
        Ok(Sink {
            dir: data_dir.to_path_buf(),
            jobs: Some(jobs),
            spare,
            worker: Some(worker),
        })
    }

    fn send(&mut self, job: Job) -> Result<(), GenError> {
        if self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok())
        {
            Ok(())
        } else {
            // The writer thread stopped: it failed, and says why when joined.
            Err(self.finish().err().unwrap_or_else(|| self.stopped()))
        }
    }

    /// An empty chunk, reused if the writer thread gave one back.
    fn chunk(&mut self) -> String {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| String::with_capacity(CHUNK + 64 * 1024))
    }

    /// Lets the writer thread finish the queued work and reports how it went.
    fn finish(&mut self) -> Result<(), GenError> {
        self.jobs = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(self.stopped()),
            None => Ok(()),
        }
    }

    fn stopped(&self) -> GenError {
        io_err(
            &self.dir,
            io::Error::other("the writer thread stopped unexpectedly"),
        )
    }
}

impl Drop for Sink {
    /// Waits for the writer thread, so nothing is written after [`generate`] returns.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The writer thread's loop.
fn write_jobs(inbox: &Receiver<Job>, give_back: &mpsc::Sender<String>) -> Result<(), GenError> {
    let mut files: Vec<Option<(File, PathBuf)>> = Vec::new();
    for job in inbox {
        match job {
            Job::Open(slot, path) => {
                let file = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                if files.len() <= slot {
                    files.resize_with(slot + 1, || None);
                }
                files[slot] = Some((file, path));
            }
            Job::Data(slot, mut text) => {
                if let Some(Some((file, path))) = files.get_mut(slot) {
                    file.write_all(text.as_bytes())
                        .map_err(|e| io_err(path, e))?;
                }
                text.clear();
                let _ = give_back.send(text);
            }
        }
    }
    Ok(())
}

/// Splits one class's records into numbered files of at most `per_file` records.
#[derive(Debug)]
struct ClassWriter {
    class: &'static str,
    slot: usize,
    dir: PathBuf,
    per_file: usize,
    header: String,
    /// Text not yet handed to the writer thread.
    chunk: String,
    in_file: usize,
    records: u64,
    bytes: u64,
    files: Vec<PathBuf>,
}

impl ClassWriter {
    fn new(
        class: &'static str,
        slot: usize,
        data_dir: &Path,
        opts: &GenOptions,
    ) -> Result<Self, GenError> {
        let dir = data_dir.join(class);
        fs::create_dir(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(ClassWriter {
            class,
            slot,
            dir,
            per_file: opts.records_per_file,
            header: format!(
                "# Generated by `mkdb gen --domains {} --seed {}`: synthetic .coop registry \
                 data, {class} file",
                opts.domains, opts.seed
            ),
            chunk: String::new(),
            in_file: 0,
            records: 0,
            bytes: 0,
            files: Vec::new(),
        })
    }

    /// The buffer to append one record to (starting a new file first if the current one is
    /// full); give it back with [`ClassWriter::end`].
    fn begin(&mut self, sink: &mut Sink) -> Result<String, GenError> {
        if self.files.is_empty() || self.in_file >= self.per_file {
            self.open_next(sink)?;
        }
        Ok(std::mem::take(&mut self.chunk))
    }

    /// Takes back the buffer from [`ClassWriter::begin`], one record (from `start`) longer.
    fn end(&mut self, sink: &mut Sink, chunk: String, start: usize) -> Result<(), GenError> {
        self.bytes += (chunk.len() - start) as u64;
        self.records += 1;
        self.in_file += 1;
        self.chunk = chunk;
        if self.chunk.len() >= CHUNK {
            self.flush(sink)?;
        }
        Ok(())
    }

    fn flush(&mut self, sink: &mut Sink) -> Result<(), GenError> {
        if !self.chunk.is_empty() {
            let fresh = sink.chunk();
            let full = std::mem::replace(&mut self.chunk, fresh);
            sink.send(Job::Data(self.slot, full))?;
        }
        Ok(())
    }

    fn open_next(&mut self, sink: &mut Sink) -> Result<(), GenError> {
        self.flush(sink)?;
        let index = self.files.len();
        let path = self.dir.join(format!("{}-{index:04}.txt", self.class));
        sink.send(Job::Open(self.slot, path.clone()))?;
        self.files.push(path);
        if self.chunk.capacity() == 0 {
            self.chunk = sink.chunk();
        }
        let start = self.chunk.len();
        let _ = writeln!(self.chunk, "{} {index}", self.header);
        self.bytes += (self.chunk.len() - start) as u64;
        self.in_file = 0;
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
}

/// A registrar and the state needed to give it domains.
#[derive(Debug)]
struct Registrar {
    id: String,
    name: String,
    slug: String,
    prefix: u16,
    loc: usize,
    addr: Address,
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
    /// When its hosts were created.
    created: i64,
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
    sink: Sink,
    first_names: Vec<&'static str>,
    last_names: Vec<&'static str>,
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
            registrar_w: ClassWriter::new("registrar", 0, data_dir, opts)?,
            contact_w: ClassWriter::new("contact", 1, data_dir, opts)?,
            nameserver_w: ClassWriter::new("nameserver", 2, data_dir, opts)?,
            domain_w: ClassWriter::new("domain", 3, data_dir, opts)?,
            rng,
            opts: opts.clone(),
            sink: Sink::start(data_dir)?,
            first_names: words(FIRST_NAMES),
            last_names: words(LAST_NAMES),
            prefixes: vec!["CNT-".to_string(), "SPN-".to_string()],
            registrars: Vec::new(),
            active: Vec::new(),
            active_pick: Weighted::new([]),
            loc_pick: Weighted::new(locs().iter().map(|l| l.weight)),
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
        self.write_registrars()?;
        self.sample_hosts()?;
        self.write_providers(total - 1)?;
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
            if written.is_multiple_of(PROGRESS_EVERY) {
                progress(written);
            }
        }
        progress(written);
        Ok(())
    }

    fn finish(mut self, mut summary: GenSummary) -> Result<GenSummary, GenError> {
        for w in [
            &mut self.registrar_w,
            &mut self.contact_w,
            &mut self.nameserver_w,
            &mut self.domain_w,
        ] {
            w.flush(&mut self.sink)?;
            summary.bytes += w.bytes;
            summary.files.append(&mut w.files);
        }
        summary.registrars = self.registrar_w.records;
        summary.contacts = self.contact_w.records;
        summary.nameservers = self.nameserver_w.records;
        summary.domains = self.domain_w.records;
        self.sink.finish()?;
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
        ContactRef {
            prefix: self.registrars[reg].prefix,
            num,
        }
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
        let first = self.rng.pick(&self.first_names);
        let last = self.rng.pick(&self.last_names);
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
        let mut buf = self.contact_w.begin(&mut self.sink)?;
        let start = buf.len();
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
            line(
                &mut buf,
                "Mailing-List-Pref",
                if coop.mailing { "true" } else { "false" },
            );
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
        tag(&mut buf, "Auth-Info");
        self.auth_info(&mut buf);
        buf.push('\n');
        end_record(&mut buf);
        self.contact_w.end(&mut self.sink, buf, start)
    }

    /// Writes a nameserver record.
    fn write_host(&mut self, h: &HostSpec<'_>) -> Result<(), GenError> {
        let mut buf = self.nameserver_w.begin(&mut self.sink)?;
        let start = buf.len();
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
        self.nameserver_w.end(&mut self.sink, buf, start)
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

    /// CNT-1002..CNT-1005 (test.coop) and CNT-1010..CNT-1014 (registrar SAMPLE). Also sets up
    /// registrar 0, REG-42, whose record [`Gen::write_registrars`] writes.
    fn sample_contacts(&mut self) -> Result<(), GenError> {
        // Registrar 0 is REG-42; its record is written later, but its ID is needed now.
        self.registrars.push(Registrar {
            id: "REG-42".to_string(),
            name: "SAMPLE".to_string(),
            slug: "reg.coop".to_string(),
            prefix: 0,
            loc: 0,
            addr: Self::sample_address(&["ADDRESS1"]),
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
                name: if for_domain {
                    "A.TEST"
                } else {
                    "AN-OTHER-TEST"
                },
                org: Some(if for_domain {
                    "TEST COMPANY COOP."
                } else {
                    "SAMPLE"
                }),
                addr: if for_domain { &three } else { &one },
                phone: "+000.000000000",
                fax: Some(if num == 1003 {
                    "+1.2025332970"
                } else {
                    "+000.000000000"
                }),
                email: if for_domain {
                    "A.TEST@TEST.COOP"
                } else {
                    "AN-OTHER-TEST@REG.COOP"
                },
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
            };
            self.write_contact(&spec)?;
        }
        Ok(())
    }

    /// The fictional federations that sponsor the first registrants.
    fn apex_contacts(&mut self) -> Result<(), GenError> {
        for (i, &(org, loc_index)) in APEX.iter().enumerate() {
            let loc = &locs()[loc_index];
            let id = ContactRef {
                prefix: 1,
                num: 101 + i as u64,
            };
            let addr = self.address(loc);
            let name = self.person_name();
            let phone = self.phone(loc);
            // sponsorship@ plus the initials: "Nordic Cooperative Council" -> ncc.coop.
            let mut email = String::from("sponsorship@");
            for word in org.split(' ').filter(|w| w.starts_with(char::is_uppercase)) {
                push_ascii_fold(&mut email, &word[..1]);
            }
            email.push_str(".coop");
            let created = self.rng.time_between(T_FIRST, T_FIRST + 30 * DAY);
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
            created: T_FIRST,
            hosts: vec!["dns0.nic.coop".to_string(), "dns1.nic.coop".to_string()],
            v4: vec![Ipv4Addr::new(10, 10, 10, 10), Ipv4Addr::new(10, 10, 10, 11)],
            v6: vec![None, None],
            registrar: 0,
            coop_domain: None,
        });
        Ok(())
    }

    fn sample_domain(&mut self) -> Result<(), GenError> {
        let mut buf = self.domain_w.begin(&mut self.sink)?;
        let start = buf.len();
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
        self.domain_w.end(&mut self.sink, buf, start)
    }

    // -- registrars ---------------------------------------------------------------------------

    fn write_registrars(&mut self) -> Result<(), GenError> {
        let (reg_a, reg_b) = (words(REG_A), words(REG_B));
        let count = (20 + self.opts.domains / 50_000).min(500) as usize;
        let mut ids: Vec<String> = vec!["REG-42".into(), "REG-43".into(), "REG-44".into()];
        let mut names: Vec<String> = vec!["SAMPLE".into()];
        let mut next_reg_number = 45;
        // Registrar 0 (REG-42, SAMPLE) exists already; give it contacts and write it.
        let cnt = |num| ContactRef { prefix: 0, num };
        self.registrars[0].admin = vec![cnt(1010), cnt(1011)];
        self.registrars[0].tech = vec![cnt(1012), cnt(1013)];
        self.registrars[0].billing = vec![cnt(1014)];
        for index in 1..count {
            let id = if index < 3 {
                ids[index].clone()
            } else if self.rng.chance(450) {
                next_reg_number += self.rng.range(1, 12);
                format!("REG-{next_reg_number}")
            } else {
                loop {
                    let mut id = String::new();
                    id.push_str(self.rng.pick(&reg_a));
                    id.push_str(self.rng.pick(&reg_b));
                    if self.rng.chance(150) {
                        id.push_str(self.rng.pick(&["-uk", "-eu", "-us", ".ca", "_de"]));
                    }
                    if id.len() <= 16 && !ids.contains(&id) {
                        break id;
                    }
                }
            };
            if index >= 3 {
                ids.push(id.clone());
            }
            let loc_index = self.loc_pick.pick(&mut self.rng);
            let loc = &locs()[loc_index];
            let mut name = String::new();
            loop {
                name.clear();
                push_display_word(&mut name, self.rng.pick(&reg_a));
                name.push(' ');
                push_display_word(&mut name, self.rng.pick(&reg_b));
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
            let mut name_words: Vec<&str> = name.split(' ').collect();
            name_words.pop();
            for word in name_words {
                push_ascii_fold(&mut slug, word);
            }
            slug.push_str(self.rng.pick(&[".com", ".net", ".eu", ".co.uk", ".coop"]));
            let mut prefix: String = id
                .chars()
                .filter(char::is_ascii_alphabetic)
                .take(4)
                .collect();
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
            let created = if index < 3 {
                T_FIRST
            } else {
                let years = if self.rng.chance(500) { 3 } else { 19 };
                self.rng.time_between(T_FIRST, T_FIRST + years * 365 * DAY)
            };
            let addr = self.address(loc);
            self.prefixes.push(prefix);
            self.registrars.push(Registrar {
                id,
                name,
                slug,
                prefix: (self.prefixes.len() - 1) as u16,
                loc: loc_index,
                addr,
                status,
                created,
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
        let loc = &locs()[self.registrars[reg].loc];
        // Most staff work at the registrar's address.
        let addr = if self.rng.chance(800) {
            self.registrars[reg].addr.clone()
        } else {
            self.address(loc)
        };
        let phone = self.phone(loc);
        let fax = self.rng.chance(400).then(|| self.phone(loc));
        let (name, local) = if self.rng.chance(500) {
            [
                ("Domain Administration", "domains"),
                ("Hostmaster", "hostmaster"),
                ("Accounts", "billing"),
            ][role]
        } else {
            ("", "")
        };
        let name = if name.is_empty() {
            self.person_name()
        } else {
            name.to_string()
        };
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
        let updated = self
            .rng
            .chance(600)
            .then(|| self.rng.time_between(created, T_NOW));
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
        };
        self.write_contact(&spec)?;
        Ok(id)
    }

    fn write_registrar(&mut self, index: usize) -> Result<(), GenError> {
        let sample = index == 0;
        let loc = &locs()[self.registrars[index].loc];
        let iana =
            (!sample && self.rng.chance(900)).then(|| 1000 + index * 17 + self.rng.index(17));
        let addr = self.registrars[index].addr.clone();
        let phone = if sample {
            "+000.000000000".to_string()
        } else {
            self.phone(loc)
        };
        let fax = if sample {
            Some("+000.000000000".to_string())
        } else {
            self.rng.chance(500).then(|| self.phone(loc))
        };
        let created = self.registrars[index].created;
        let updated = if sample {
            created
        } else {
            self.rng.time_between(created, T_NOW)
        };

        let mut buf = self.registrar_w.begin(&mut self.sink)?;
        let start = buf.len();
        let r = &self.registrars[index];
        line(&mut buf, "Registrar-ID", &r.id);
        line(&mut buf, "Registrar-Name", &r.name);
        if let Some(iana) = iana {
            let _ = writeln!(buf, "IANA-ID: {iana}");
        }
        line(&mut buf, "Registrar-Status", r.status);
        for street in &addr.streets {
            line(&mut buf, "Street", street);
        }
        line(&mut buf, "City", &addr.city);
        if !addr.state.is_empty() {
            line(&mut buf, "State-Province", &addr.state);
        }
        line(&mut buf, "Country-Code", addr.cc);
        line(&mut buf, "Postal-Code", &addr.postal);
        line(&mut buf, "Phone", &phone);
        if let Some(fax) = &fax {
            line(&mut buf, "Fax", fax);
        }
        if sample {
            line(&mut buf, "Email", "AN-OTHER-TEST@REG.COOP");
        } else {
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
        line_date(&mut buf, "Created-Date", created);
        line_date(&mut buf, "Updated-Date", updated);
        end_record(&mut buf);
        self.registrar_w.end(&mut self.sink, buf, start)
    }

    // -- name server pool ---------------------------------------------------------------------

    /// Hosting providers; `coop_budget` is how many `-dns.coop` domains may be written.
    fn write_providers(&mut self, coop_budget: u64) -> Result<(), GenError> {
        let count = (10 + self.opts.domains / 5000).min(1500) as usize;
        let (prov_a, prov_b) = (words(PROV_A), words(PROV_B));
        let space = (prov_a.len() * prov_b.len()) as u64;
        let perm = Perm::new(space, self.rng.next_u64());
        let mut coop_domains = 0;
        let mut weights = vec![10_000u64]; // the registry's own servers
        for p in 0..count {
            let round = p as u64 / space;
            let x = perm.apply(p as u64 % space, round);
            let a = prov_a[(x % prov_a.len() as u64) as usize];
            let b = prov_b[(x / prov_a.len() as u64) as usize];
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
            let created = self.created_after(self.registrars[registrar].created);
            let mut provider = Provider {
                created,
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
                let updated = self
                    .rng
                    .chance(700)
                    .then(|| self.rng.time_between(created, T_NOW));
                let roid = self.next_host;
                self.next_host += 1;
                let remark = self.rng.chance(40).then(|| self.rng.pick(HOST_REMARKS));
                let statuses = self.host_statuses();
                self.write_host(&HostSpec {
                    roid,
                    name_prefix: "",
                    name: &host,
                    statuses,
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
        let from = if self.rng.chance(500) {
            T_FIRST
        } else {
            T_NOW - 8 * 365 * DAY
        };
        self.rng.time_between(from, T_NOW - DAY)
    }

    /// A creation time, not before `floor` (when the creating registrar was accredited).
    fn created_after(&mut self, floor: i64) -> i64 {
        let t = self.random_created();
        if t < floor {
            self.rng.time_between(floor, T_NOW - DAY)
        } else {
            t
        }
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
                path: self
                    .domain_w
                    .files
                    .last()
                    .unwrap_or(&self.domain_w.dir)
                    .clone(),
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
        // ~10% were created at another registrar and transferred in.
        let mut creator = if self.rng.chance(100) {
            self.other_registrar(reg)
        } else {
            reg
        };
        let created = match own_provider {
            Some(p) => {
                let hosts_created = self.providers[p].created;
                let floor = self.registrars[creator]
                    .created
                    .max(hosts_created - 30 * DAY);
                self.rng.time_between(floor, hosts_created)
            }
            None => self.created_after(self.registrars[creator].created),
        };
        let transfer_floor = (created + 60 * DAY).max(self.registrars[reg].created);
        let transferred = (creator != reg && transfer_floor < T_NOW - 30 * DAY)
            .then(|| self.rng.time_between(transfer_floor, T_NOW - 30 * DAY));
        if transferred.is_none() {
            creator = reg;
        }
        let last_event = transferred.unwrap_or(created);
        let updated = self
            .rng
            .chance(950)
            .then(|| self.rng.time_between(last_event, T_NOW));
        let events = Events {
            sponsor: reg,
            creator,
            created,
            transferred,
        };

        // Registrant: sometimes one that already holds a domain at this registrar.
        let reuse = own_provider.is_none()
            && !self.registrars[reg].recent.is_empty()
            && self.rng.chance(200);
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
                // Own in-bailiwick hosts; with only one, a provider's hosts as secondaries.
                own_hosts = match self.rng.below(10) {
                    0..5 => 1,
                    5..9 => 2,
                    _ => 3,
                };
                ns.extend((0..own_hosts).map(NsRef::Own));
                if own_hosts == 1 || self.rng.chance(150) {
                    let p = self.provider_pick.pick(&mut self.rng);
                    let n = self.providers[p].hosts.len().min(4 - own_hosts).min(2);
                    ns.extend((0..n).map(|h| NsRef::Pool(p, h)));
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

        let mut buf = self.domain_w.begin(&mut self.sink)?;
        let start = buf.len();
        let _ = writeln!(buf, "Domain-ID: {roid}-COOP");
        line(&mut buf, "Domain-Name", name);
        self.reg_line(&mut buf, "Sponsoring-Registrar", reg);
        for status in statuses {
            line(&mut buf, "Domain-Status", status);
        }
        self.cid_line(&mut buf, "Registrant-ID", registrant);
        for (role, t) in ["Admin-ID", "Tech-ID", "Billing-ID"]
            .into_iter()
            .enumerate()
        {
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
        self.domain_w.end(&mut self.sink, buf, start)
    }

    fn domain_statuses(&mut self, has_ns: bool) -> &'static [&'static str] {
        if !has_ns {
            return &["inactive"];
        }
        match self.rng.below(1000) {
            0..790 => &["ok"],
            790..850 => &["clientTransferProhibited"],
            850..900 => &["clientTransferProhibited", "clientUpdateProhibited"],
            900..920 => &[
                "clientDeleteProhibited",
                "clientTransferProhibited",
                "clientUpdateProhibited",
            ],
            920..935 => &[
                "serverDeleteProhibited",
                "serverTransferProhibited",
                "serverUpdateProhibited",
            ],
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
        let limit = T_NOW - 30 * DAY;
        let year = |t: i64| civil_from_days(t.div_euclid(DAY)).0;
        let mut years = (year(limit) - year(created)).max(1);
        while add_years(created, years) <= limit {
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
        let loc = &locs()[loc_index];
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
        let mut email = String::with_capacity(48);
        if self.rng.chance(500) || ROLE_NAMES.contains(&person.as_str()) {
            email.push_str(self.rng.pick(EMAIL_LOCALS));
        } else {
            push_email_person(&mut email, &person);
        }
        email.push('@');
        email.push_str(name);
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
        let lang = if self.rng.chance(850) {
            loc.lang
        } else {
            self.rng.pick(&["en", "fr", "es", "de"])
        };
        let ens = self.next_ens;
        self.next_ens += 1;
        let created = (ev.created - self.rng.below(3 * DAY as u64) as i64)
            .max(self.registrars[ev.creator].created);
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
        Ok((
            id,
            Household {
                org,
                addr,
                loc: loc_index,
            },
        ))
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
                (l, self.address(&locs()[l]))
            }
        };
        let loc = &locs()[loc_index];
        let org = household
            .filter(|_| self.rng.chance(700))
            .map(|h| h.org.as_str());
        let person = self.person_name();
        let phone = self.phone(loc);
        let fax = self.rng.chance(100).then(|| self.phone(loc));
        let mut email = String::with_capacity(48);
        push_email_person(&mut email, &person);
        email.push('@');
        email.push_str(name);
        let created = (ev.created - self.rng.below(DAY as u64) as i64)
            .max(self.registrars[ev.creator].created);
        let updated = self
            .rng
            .chance(500)
            .then(|| self.rng.time_between(created, T_NOW));
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
            let p = 1 + self
                .rng
                .index(self.providers.len() - 1)
                .min(self.rng.index(40));
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
        let updated = self
            .rng
            .chance(400)
            .then(|| self.rng.time_between(created, T_NOW));
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
    use regex::Regex;
    use std::collections::{HashMap, HashSet};
    use std::net::IpAddr;

    type Record = Vec<(String, String)>;

    /// Splits MKDB text into records of (tag, value) pairs; `strict` checks the exact
    /// `Tag: value` spelling the generator promises.
    fn parse(text: &str, strict: bool) -> Vec<Record> {
        let mut records = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || (!strict && line.trim().is_empty()) {
                continue;
            }
            if line == "---" {
                if !current.is_empty() {
                    records.push(std::mem::take(&mut current));
                }
                continue;
            }
            let (tag, value) = if strict {
                let (t, v) = line
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("bad line {line:?}"));
                assert!(
                    !v.is_empty() && v.trim() == v,
                    "untrimmed value in {line:?}"
                );
                assert!(!t.contains(' '), "bad tag in {line:?}");
                (t, v)
            } else {
                let (t, v) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad line {line:?}"));
                (t.trim(), v.trim())
            };
            current.push((tag.to_string(), value.to_string()));
        }
        assert!(current.is_empty(), "the last record has no --- line");
        records
    }

    fn get<'r>(record: &'r Record, tag: &str) -> Vec<&'r str> {
        record
            .iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[derive(Debug)]
    struct Attr {
        name: String,
        required: bool,
        repeatable: bool,
        primary: bool,
        kind: String,
        references: Option<String>,
        format: Option<Regex>,
    }

    fn schemas() -> HashMap<String, Vec<Attr>> {
        let mut out = HashMap::new();
        for (class, text) in SHIPPED_SCHEMAS {
            let records = parse(text, false);
            assert_eq!(get(&records[0], "class"), vec![*class]);
            let attrs = records[1..]
                .iter()
                .map(|r| {
                    let one = |t: &str| get(r, t).first().map(|v| v.to_string());
                    let yes = |t: &str| one(t).as_deref() == Some("TRUE");
                    Attr {
                        name: one("attribute").expect("attribute name"),
                        required: yes("is-required") || yes("is-primary-key"),
                        repeatable: yes("is-repeatable"),
                        primary: yes("is-primary-key"),
                        kind: one("type").unwrap_or_else(|| "TEXT".to_string()),
                        references: one("references"),
                        format: one("format").map(|f| {
                            let re = f.strip_prefix("re:").expect("re: format");
                            Regex::new(&format!("^(?:{re})$")).expect("format regex")
                        }),
                    }
                })
                .collect();
            out.insert(class.to_string(), attrs);
        }
        out
    }

    fn tree(domains: u64, seed: u64, per_file: usize) -> (tempfile::TempDir, GenSummary) {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = GenOptions {
            domains,
            seed,
            records_per_file: per_file,
        };
        let mut calls = Vec::new();
        let summary = generate(dir.path(), &opts, &mut |n| calls.push(n)).expect("generate");
        assert_eq!(calls.last().copied(), Some(domains.max(1)));
        assert!(calls.windows(2).all(|w| w[0] <= w[1]));
        (dir, summary)
    }

    /// The data files of a class, in order, with their text.
    fn class_files(root: &Path, class: &str) -> Vec<(PathBuf, String)> {
        let mut paths: Vec<PathBuf> = fs::read_dir(root.join("data").join(class))
            .expect("class dir")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = fs::read_to_string(&p).expect("utf-8 data file");
                (p, text)
            })
            .collect()
    }

    fn records(root: &Path, class: &str) -> Vec<Record> {
        class_files(root, class)
            .iter()
            .flat_map(|(_, text)| parse(text, true))
            .collect()
    }

    fn all_bytes(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for sub in [
            "schema",
            "data/registrar",
            "data/contact",
            "data/nameserver",
            "data/domain",
        ] {
            let mut paths: Vec<PathBuf> = fs::read_dir(root.join(sub))
                .expect("dir")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            for p in paths {
                let rel = p.strip_prefix(root).expect("under root").to_path_buf();
                out.push((rel, fs::read(&p).expect("read")));
            }
        }
        out
    }

    fn parse_date(v: &str) -> i64 {
        let b = v.as_bytes();
        let shape_ok = b.len() == 20
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        assert!(shape_ok, "bad date {v}");
        let n = |from: usize, to: usize| v[from..to].parse::<i64>().expect("number");
        let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
        let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
        assert!(
            (1..=12).contains(&m) && hh < 24 && mm < 60 && ss < 60,
            "bad date {v}"
        );
        let days = days_from_civil(y, m, d);
        assert_eq!(civil_from_days(days), (y, m, d), "no such day {v}");
        days * DAY + hh * 3600 + mm * 60 + ss
    }

    fn check_host_name(v: &str) {
        assert!(
            v.len() <= 253 && v == v.to_ascii_lowercase(),
            "bad host name {v}"
        );
        for label in v.split('.') {
            assert!(!label.is_empty() && label.len() <= 63, "bad label in {v}");
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "bad character in {v}"
            );
            assert!(
                !label.starts_with('-') && !label.ends_with('-'),
                "bad hyphen in {v}"
            );
            if label.starts_with("xn--") {
                let (unicode, result) = idna::domain_to_unicode(label);
                assert!(result.is_ok(), "bad A-label {label}");
                assert_eq!(idna::domain_to_ascii(&unicode).expect("round trip"), label);
            } else {
                assert_ne!(&label.get(2..4).unwrap_or(""), &"--", "reserved label {v}");
            }
        }
    }

    /// Checks every record of a tree against the shipped schemas and every reference.
    fn validate(root: &Path) -> HashMap<String, Vec<Record>> {
        let schemas = schemas();
        let mut all = HashMap::new();
        let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
        let mut refs: Vec<(String, String, String)> = Vec::new();
        for (class, attrs) in &schemas {
            let recs = records(root, class);
            let key_set = keys.entry(class.clone()).or_default();
            for rec in &recs {
                let mut last_index = 0;
                for (tag, value) in rec {
                    let index = attrs
                        .iter()
                        .position(|a| &a.name == tag)
                        .unwrap_or_else(|| panic!("{class}: unknown tag {tag}"));
                    assert!(index >= last_index, "{class}: {tag} out of schema order");
                    last_index = index;
                    let attr = &attrs[index];
                    if let Some(re) = &attr.format {
                        assert!(
                            re.is_match(value),
                            "{class}: {tag}: {value:?} breaks its format"
                        );
                    }
                    match attr.kind.as_str() {
                        "DATE" => {
                            parse_date(value);
                        }
                        "IP" => {
                            let ip: IpAddr = value.parse().expect("IP address");
                            assert_eq!(ip.to_string(), *value, "non-canonical IP");
                        }
                        "DOMAIN" => check_host_name(value),
                        "LINKED" => panic!("{class}: computed attribute {tag} written"),
                        _ => {}
                    }
                    if let Some(target) = &attr.references {
                        refs.push((target.clone(), value.clone(), format!("{class}.{tag}")));
                    }
                }
                for attr in attrs {
                    let n = get(rec, &attr.name).len();
                    assert!(
                        n > 0 || !attr.required,
                        "{class}: {} missing in {rec:?}",
                        attr.name
                    );
                    assert!(n <= 1 || attr.repeatable, "{class}: {} repeated", attr.name);
                    if attr.primary {
                        let key = get(rec, &attr.name)[0].to_string();
                        assert!(key_set.insert(key.clone()), "{class}: duplicate key {key}");
                    }
                }
                for status in ["Domain-Status", "Contact-Status", "Host-Status"] {
                    let values = get(rec, status);
                    assert!(
                        !values.contains(&"ok") || values.len() == 1,
                        "ok with others"
                    );
                }
                let created = get(rec, "Created-Date").first().map(|v| parse_date(v));
                for later in ["Updated-Date", "Transferred-Date", "Expiry-Date"] {
                    if let (Some(c), Some(v)) = (created, get(rec, later).first()) {
                        assert!(parse_date(v) >= c, "{class}: {later} before Created-Date");
                    }
                }
                for t in get(rec, "Created-Date")
                    .iter()
                    .chain(&get(rec, "Updated-Date"))
                {
                    let t = parse_date(t);
                    assert!((T_FIRST..=T_NOW).contains(&t), "date out of range");
                }
            }
            all.insert(class.clone(), recs);
        }
        for (target, value, from) in refs {
            assert!(
                keys[&target].contains(&value),
                "{from}: {value} is not a {target}"
            );
        }
        all
    }

    #[test]
    fn every_record_matches_its_schema_and_every_reference_resolves() {
        let (dir, summary) = tree(3000, 7, 700);
        let all = validate(dir.path());
        assert_eq!(all["domain"].len() as u64, summary.domains);
        assert_eq!(all["contact"].len() as u64, summary.contacts);
        assert_eq!(all["nameserver"].len() as u64, summary.nameservers);
        assert_eq!(all["registrar"].len() as u64, summary.registrars);
        for d in &all["domain"] {
            let ns = get(d, "Name-Server");
            assert!(ns.len() <= 4, "too many name servers");
            if ns.is_empty() {
                assert_eq!(get(d, "Domain-Status"), vec!["inactive"]);
            } else {
                assert!(
                    ns.len() >= 2,
                    "a delegated domain has at least two name servers"
                );
            }
            let unique: HashSet<_> = ns.iter().collect();
            assert_eq!(unique.len(), ns.len(), "duplicate name server");
            if get(d, "Domain-Name") != ["test.coop"] {
                // (the specification's sample names a gaining registrar but no date)
                assert_eq!(
                    get(d, "Transferred-By").len(),
                    get(d, "Transferred-Date").len()
                );
            }
        }
        for c in &all["contact"] {
            let sponsors = get(c, "Sponsor");
            assert!(
                !sponsors.contains(&get(c, "Contact-ID")[0]),
                "self-sponsored contact"
            );
        }
    }

    #[test]
    fn counts_files_and_bytes_add_up() {
        let n = 3000;
        let (dir, summary) = tree(n, 11, 1000);
        assert_eq!(summary.domains, n);
        assert_eq!(summary.registrars, 20);
        assert!(
            summary.contacts as f64 >= 1.2 * n as f64,
            "{} contacts",
            summary.contacts
        );
        assert!(
            summary.contacts as f64 <= 2.0 * n as f64,
            "{} contacts",
            summary.contacts
        );
        assert!(
            summary.nameservers as f64 >= 0.1 * n as f64,
            "{}",
            summary.nameservers
        );
        assert!(
            summary.nameservers as f64 <= 0.3 * n as f64 + 100.0,
            "{}",
            summary.nameservers
        );
        let on_disk: u64 = summary
            .files
            .iter()
            .map(|p| fs::metadata(p).expect("file").len())
            .sum();
        assert_eq!(summary.bytes, on_disk);
        assert_eq!(summary.files.len(), all_bytes(dir.path()).len());
        for (class, _) in SHIPPED_SCHEMAS {
            let path = dir.path().join("schema").join(format!("{class}.schema"));
            assert!(summary.files.contains(&path));
        }
        let domain_files = class_files(dir.path(), "domain");
        assert_eq!(domain_files.len(), 3);
        for (i, (path, text)) in domain_files.iter().enumerate() {
            assert_eq!(
                path.file_name().and_then(|s| s.to_str()),
                Some(&*format!("domain-{i:04}.txt"))
            );
            let first = text.lines().next().unwrap_or("");
            assert!(first.starts_with("# Generated by `mkdb gen --domains 3000 --seed 11`"));
            assert_eq!(parse(text, true).len(), 1000);
        }
        // Shared objects: some addresses serve many hosts, some registrants many domains.
        let hosts = records(dir.path(), "nameserver");
        let mut per_ip: HashMap<&str, usize> = HashMap::new();
        for h in &hosts {
            for ip in get(h, "IP-Address") {
                *per_ip.entry(ip).or_default() += 1;
            }
        }
        assert!(per_ip.values().any(|&n| n >= 5), "no shared address");
        let v6 = hosts
            .iter()
            .filter(|h| get(h, "IP-Address").iter().any(|a| a.contains(':')));
        let share = v6.count() as f64 / hosts.len() as f64;
        assert!((0.15..0.5).contains(&share), "IPv6 share {share}");
        let domains = records(dir.path(), "domain");
        let mut per_registrant: HashMap<&str, usize> = HashMap::new();
        let mut per_ns: HashMap<&str, usize> = HashMap::new();
        for d in &domains {
            *per_registrant
                .entry(get(d, "Registrant-ID")[0])
                .or_default() += 1;
            for ns in get(d, "Name-Server") {
                *per_ns.entry(ns).or_default() += 1;
            }
        }
        let multi = per_registrant.values().filter(|&&n| n > 1).count();
        assert!(
            multi * 20 > per_registrant.len(),
            "{multi} registrants own several domains"
        );
        assert!(
            per_ns.values().any(|&n| n >= 100),
            "no widely shared name server"
        );
        let transferred = domains
            .iter()
            .filter(|d| !get(d, "Transferred-Date").is_empty());
        let share = transferred.count() as f64 / n as f64;
        assert!((0.05..0.15).contains(&share), "transferred share {share}");
        let ok = domains
            .iter()
            .filter(|d| get(d, "Domain-Status") == ["ok"])
            .count();
        assert!(ok as f64 > 0.7 * n as f64, "{ok} ok domains");
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, _) = tree(1500, 42, 400);
        let (b, _) = tree(1500, 42, 400);
        let (c, _) = tree(1500, 43, 400);
        let a = all_bytes(a.path());
        assert_eq!(a, all_bytes(b.path()));
        let c = all_bytes(c.path());
        assert_eq!(a.len(), c.len());
        let domain = |files: &[(PathBuf, Vec<u8>)]| {
            files
                .iter()
                .find(|(p, _)| p.ends_with("domain-0000.txt"))
                .map(|(_, b)| b.clone())
        };
        assert_ne!(domain(&a), domain(&c));
    }

    #[test]
    fn records_per_file_only_moves_file_boundaries() {
        let (a, _) = tree(700, 8, 100);
        let (b, _) = tree(700, 8, 250_000);
        assert_eq!(class_files(a.path(), "domain").len(), 7);
        for class in ["registrar", "contact", "nameserver", "domain"] {
            assert_eq!(records(a.path(), class), records(b.path(), class));
        }
    }

    #[test]
    fn the_specification_samples_come_first() {
        let (dir, _) = tree(50, 1, 250_000);
        let root = dir.path();
        let first = |class: &str| parse(&class_files(root, class)[0].1, true);
        let domains = first("domain");
        let test = &domains[0];
        assert_eq!(get(test, "Domain-ID"), ["400032-COOP"]);
        assert_eq!(get(test, "Domain-Name"), ["test.coop"]);
        assert_eq!(get(test, "Sponsoring-Registrar"), ["REG-42"]);
        assert_eq!(get(test, "Registrant-ID"), ["CNT-1002"]);
        assert_eq!(get(test, "Admin-ID"), ["CNT-1003"]);
        assert_eq!(get(test, "Tech-ID"), ["CNT-1004"]);
        assert_eq!(get(test, "Billing-ID"), ["CNT-1005"]);
        assert_eq!(get(test, "Name-Server"), ["dns0.nic.coop", "dns1.nic.coop"]);
        assert_eq!(get(test, "Created-By"), ["REG-42"]);
        assert_eq!(get(test, "Updated-By"), ["REG-43"]);
        assert_eq!(get(test, "Transferred-By"), ["REG-44"]);
        assert_eq!(get(test, "Created-Date"), ["2001-05-05T00:00:00Z"]);
        assert_eq!(get(test, "Expiry-Date"), ["2003-05-05T00:00:00Z"]);

        let registrars = first("registrar");
        let ids: Vec<&str> = registrars
            .iter()
            .map(|r| get(r, "Registrar-ID")[0])
            .collect();
        assert_eq!(&ids[..3], ["REG-42", "REG-43", "REG-44"]);
        let sample = &registrars[0];
        assert_eq!(get(sample, "Registrar-Name"), ["SAMPLE"]);
        assert_eq!(get(sample, "Admin-Contact"), ["CNT-1010", "CNT-1011"]);
        assert_eq!(get(sample, "Tech-Contact"), ["CNT-1012", "CNT-1013"]);
        assert_eq!(get(sample, "Billing-Contact"), ["CNT-1014"]);
        assert_eq!(get(sample, "Email"), ["AN-OTHER-TEST@REG.COOP"]);

        let contacts = first("contact");
        let ids: Vec<&str> = contacts
            .iter()
            .take(9)
            .map(|c| get(c, "Contact-ID")[0])
            .collect();
        assert_eq!(
            ids,
            [
                "CNT-1002", "CNT-1003", "CNT-1004", "CNT-1005", "CNT-1010", "CNT-1011", "CNT-1012",
                "CNT-1013", "CNT-1014"
            ]
        );
        let registrant = &contacts[0];
        assert_eq!(get(registrant, "Name"), ["A.TEST"]);
        assert_eq!(get(registrant, "Organization"), ["TEST COMPANY COOP."]);
        assert_eq!(get(registrant, "Email"), ["A.TEST@TEST.COOP"]);
        assert_eq!(get(registrant, "ENS-Identity"), ["COOP-0010"]);
        assert_eq!(
            get(registrant, "Transferred-Date"),
            ["2001-07-25T00:00:00Z"]
        );
        assert_eq!(get(&contacts[1], "Fax"), ["+1.2025332970"]);

        let hosts = first("nameserver");
        assert_eq!(get(&hosts[0], "Host-Name"), ["dns0.nic.coop"]);
        assert_eq!(get(&hosts[0], "IP-Address"), ["10.10.10.10"]);
        assert_eq!(get(&hosts[0], "Sponsoring-Registrar"), ["REG-42"]);
        assert_eq!(get(&hosts[0], "Created-By"), ["REG-43"]);
        assert_eq!(get(&hosts[1], "Host-Name"), ["dns1.nic.coop"]);
        validate(root);
    }

    #[test]
    fn tiny_trees_still_hold_the_samples() {
        for n in [0, 1, 2, 5] {
            let (dir, summary) = tree(n, 3, 250_000);
            assert_eq!(summary.domains, n.max(1));
            validate(dir.path());
        }
    }

    #[test]
    fn idn_names_are_valid_a_labels() {
        let (dir, _) = tree(5000, 5, 250_000);
        let domains = records(dir.path(), "domain");
        let idn: Vec<&str> = domains
            .iter()
            .map(|d| get(d, "Domain-Name")[0])
            .filter(|n| n.starts_with("xn--"))
            .collect();
        assert!((50..200).contains(&idn.len()), "{} IDN domains", idn.len());
        for name in idn {
            let (unicode, result) = idna::domain_to_unicode(name);
            assert!(result.is_ok(), "{name}");
            assert!(!unicode.is_ascii(), "{name} is not internationalized");
            assert_eq!(idna::domain_to_ascii(&unicode).expect("A-label"), name);
        }
    }

    #[test]
    fn refuses_an_existing_data_dir_and_bad_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("data")).expect("mkdir");
        let err = generate(dir.path(), &GenOptions::default(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, GenError::OutputExists { .. }), "{err}");
        assert!(err.to_string().contains("already exists"));
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = GenOptions {
            records_per_file: 0,
            ..GenOptions::default()
        };
        let err = generate(dir.path(), &opts, &mut |_| {}).unwrap_err();
        assert!(matches!(err, GenError::InvalidOptions { .. }), "{err}");
        // A second run into the same directory is refused too.
        let opts = GenOptions {
            domains: 10,
            ..GenOptions::default()
        };
        generate(dir.path(), &opts, &mut |_| {}).expect("first run");
        let err = generate(dir.path(), &opts, &mut |_| {}).unwrap_err();
        assert!(matches!(err, GenError::OutputExists { .. }), "{err}");
    }

    fn all_base_names(patterns: &'static [Pattern]) -> Vec<String> {
        let space = NameSpace::new(patterns, &mut Rng::new(0));
        let mut out = Vec::new();
        for (p, pattern) in space.patterns.iter().enumerate() {
            for x in 0..pattern.size {
                let (mut name, mut display) = (String::new(), String::new());
                space.base_name(p, x, &mut name, &mut display);
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn word_lists_make_unique_names() {
        let (pre, trade, org) = (words(PRE), words(TRADE), words(ORG));
        for list in [PRE, TRADE, ORG, PROV_A, PROV_B, REG_A, REG_B].map(words) {
            assert!(
                list.iter()
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
            );
            let set: HashSet<_> = list.iter().collect();
            assert_eq!(set.len(), list.len(), "duplicate word");
        }
        for (a, b) in [(&pre, &trade), (&pre, &org), (&trade, &org)] {
            assert!(a.iter().all(|w| !b.contains(w)), "word lists overlap");
        }
        for list in [&pre, &trade, &org] {
            assert!(
                !list.contains(&"dns"),
                "\"dns\" would clash with provider domains"
            );
        }
        for w in words(IDN) {
            assert!(!w.is_ascii() && w == w.to_lowercase(), "{w}");
        }
        let ascii = all_base_names(ASCII_PATTERNS);
        let unique: HashSet<&String> = ascii.iter().collect();
        assert_eq!(
            unique.len(),
            ascii.len(),
            "two ASCII patterns give the same name"
        );
        assert!(
            ascii
                .iter()
                .all(|n| n.len() <= 50 && !n.ends_with(|c: char| c.is_ascii_digit()))
        );
        let idn: Vec<String> = all_base_names(IDN_PATTERNS)
            .iter()
            .map(|u| idna::domain_to_ascii(&format!("{u}.coop")).expect("IDN word list"))
            .collect();
        let unique: HashSet<&String> = idn.iter().collect();
        assert_eq!(
            unique.len(),
            idn.len(),
            "two IDN names convert to the same A-label"
        );
        assert!(
            idn.iter().all(|n| n.starts_with("xn--") && n.len() <= 60),
            "IDN names"
        );
        let (prov_a, prov_b) = (words(PROV_A), words(PROV_B));
        let providers: HashSet<String> = prov_a
            .iter()
            .flat_map(|a| prov_b.iter().map(move |b| format!("{a}{b}")))
            .collect();
        assert_eq!(providers.len(), prov_a.len() * prov_b.len());
        for list in [FIRST_NAMES, LAST_NAMES].map(words) {
            assert!(list.len() > 50 && list.iter().any(|w| !w.is_ascii()));
            for w in list {
                let mut folded = String::new();
                push_ascii_fold(&mut folded, w);
                assert!(!folded.is_empty() && folded.bytes().all(|b| b.is_ascii_lowercase()));
            }
        }
    }

    #[test]
    fn names_stay_unique_past_the_end_of_a_pattern() {
        // A one-word pattern runs out after a few names and then numbers its rounds.
        static SMALL: &[Pattern] = &[Pattern {
            parts: &[("", ORG)],
            weight: 1,
            org: true,
        }];
        let mut rng = Rng::new(9);
        let mut space = NameSpace::new(SMALL, &mut rng);
        let mut seen = HashSet::new();
        for _ in 0..words(ORG).len() * 5 {
            let (mut name, mut words) = (String::new(), String::new());
            assert!(space.next(&mut rng, &mut name, &mut words));
            assert!(seen.insert(name), "repeated name");
        }
        assert!(seen.contains("coop") && seen.contains("coop5") && !seen.contains("coop6"));
    }

    #[test]
    fn the_places_table_parses() {
        let cc = Regex::new("^[A-Z]{2}$").expect("re");
        let lang = Regex::new("^(en|fr|es|de)$").expect("re");
        let places: Vec<&str> = PLACES.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(locs().len(), places.len());
        for (loc, line) in locs().iter().zip(places) {
            assert_eq!(line.split('|').count(), 11, "{line}");
            assert!(!loc.city.is_empty() && cc.is_match(loc.cc) && lang.is_match(loc.lang));
            assert!(!loc.postal.is_empty() && !loc.phone_cc.is_empty() && loc.weight > 0);
            assert!(loc.area.len() + usize::from(loc.digits) <= 14 && loc.digits >= 6);
            assert!(
                loc.street < STREET_STYLES.len() && loc.org < ORG_STYLES.len(),
                "{line}"
            );
        }
        for (_, loc) in APEX {
            assert!(*loc < locs().len());
        }
    }

    #[test]
    fn permutations_are_bijections() {
        for n in [1u64, 2, 3, 7, 64, 100, 1000, 4097] {
            for round in 0..3 {
                let perm = Perm::new(n, 1234);
                let image: HashSet<u64> = (0..n).map(|x| perm.apply(x, round)).collect();
                assert_eq!(image.len() as u64, n);
                assert!(image.iter().all(|&y| y < n));
            }
        }
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let fmt = |t: i64| {
            let mut s = String::new();
            push_date(&mut s, t);
            s
        };
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(fmt(T_FIRST), "2001-05-05T00:00:00Z");
        assert_eq!(fmt(T_NOW - 1), "2026-02-28T23:59:59Z");
        assert_eq!(fmt(1_079_515_265), "2004-03-17T09:21:05Z");
        let leap = days_from_civil(2004, 2, 29) * DAY + 5;
        assert_eq!(fmt(add_years(leap, 1)), "2005-02-28T00:00:05Z");
        assert_eq!(fmt(add_years(leap, 4)), "2008-02-29T00:00:05Z");
        for day in (-1000..30_000).step_by(7) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert_eq!(parse_date(&fmt(day * DAY + 3723)), day * DAY + 3723);
        }
    }

    #[test]
    fn the_generator_is_stable() {
        // Pins the PRNG so the output cannot drift silently between versions.
        let mut rng = Rng::new(0);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        let mut again = Rng::new(0);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_eq!(mix64(0), 0);
        assert_eq!(splitmix(&mut 0), 0xE220_A839_7B1D_CDAF);
    }
}
