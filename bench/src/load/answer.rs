//! Finding where whois answers end in a byte stream, and what kind they are, sans I/O.
//!
//! An [`AnswerReader`] is fed whatever a socket read returned (any split: a line may arrive
//! one byte at a time) and reports [`Event`]s: the `%ok` that acknowledges
//! `-holdconnect on`, and each complete answer with its [`AnswerKind`] and size. It keeps
//! only the start of the current line (at most [`LINE_KEEP`] bytes), never the answer.
//!
//! Rules (Public Whois Specification, as served by `whoisd`):
//! - an answer ends with its line `>>> Last update of whois database: ... <<<`;
//! - it is [`AnswerKind::Limited`] when a line starting with `%` contains one of the
//!   limiter markers (by default [`DEFAULT_LIMITED_MARKERS`], case-insensitive), else
//!   [`AnswerKind::Error`] when a line starts with `% Error` or `%error`, else
//!   [`AnswerKind::NoMatch`] when a line starts with `No match for`, else
//!   [`AnswerKind::Hit`];
//! - at end of input ([`AnswerReader::finish`]) an unterminated answer still counts when it
//!   was a limiter or error message (a server may send those and close), otherwise it is
//!   short.
//!
//! The socket loop lives in [`super::client`].

use std::sync::Arc;

/// Bytes of a line kept for classification; the rest of a longer line is only scanned for
/// its end.
pub const LINE_KEEP: usize = 1024;

/// Text (in a `%` line) that marks an answer refused by a rate limiter, by default.
/// `whoisd` refuses with `% Error: <reason>; retry after N seconds.` (or `try again`) and
/// `%error 501 Service Not Available`, which it uses for nothing else.
pub const DEFAULT_LIMITED_MARKERS: &[&str] = &[
    "%error 501",
    "retry after",
    "rate limit",
    "rate-limit",
    "limit exceeded",
    "too many",
    "blocked",
    "try again",
];

const TERMINATOR: &[u8] = b">>> last update of whois database";

/// What an answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Records (a found domain, contact, ...).
    Hit,
    /// `No match for "..."`.
    NoMatch,
    /// A `% Error:` (or `%error`) line: the server refused the query.
    Error,
    /// The server's rate limiter refused the query.
    Limited,
}

impl AnswerKind {
    /// All kinds, in report order.
    pub const ALL: [AnswerKind; 4] = [
        AnswerKind::Hit,
        AnswerKind::NoMatch,
        AnswerKind::Error,
        AnswerKind::Limited,
    ];

    /// Index into per-kind counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            AnswerKind::Hit => "hit",
            AnswerKind::NoMatch => "no_match",
            AnswerKind::Error => "error",
            AnswerKind::Limited => "limited",
        }
    }
}

/// Something found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `%ok` answering `-holdconnect on` (only while [`AnswerReader::expect_ok`] is set).
    HoldOk,
    /// `%error ...` answering `-holdconnect on`; `limited` when the lines before it carried
    /// a limiter marker (a server at its connection limit says so and closes).
    HoldRefused {
        /// A limiter refused the connection.
        limited: bool,
    },
    /// A complete answer of `bytes` bytes.
    Answer {
        /// What it said.
        kind: AnswerKind,
        /// Its size, including the banner in connect mode.
        bytes: u64,
    },
}

/// Limiter markers, lower-cased.
#[derive(Debug, Clone)]
pub struct Markers(Arc<[Vec<u8>]>);

impl Markers {
    /// Markers from strings (matched case-insensitively).
    pub fn new<S: AsRef<str>>(markers: &[S]) -> Markers {
        Markers(
            markers
                .iter()
                .map(|m| m.as_ref().to_ascii_lowercase().into_bytes())
                .filter(|m| !m.is_empty())
                .collect(),
        )
    }
}

impl Default for Markers {
    fn default() -> Self {
        Markers::new(DEFAULT_LIMITED_MARKERS)
    }
}

/// Splits a byte stream into answers; see the module documentation.
#[derive(Debug, Clone)]
pub struct AnswerReader {
    markers: Markers,
    /// Start of the current, unfinished line.
    line: Vec<u8>,
    /// Bytes of the current answer so far.
    bytes: u64,
    error: bool,
    no_match: bool,
    limited: bool,
    /// Waiting for the `%ok` of `-holdconnect on`.
    expect_ok: bool,
}

impl AnswerReader {
    /// A reader at the start of a connection.
    pub fn new(markers: Markers) -> AnswerReader {
        AnswerReader {
            markers,
            line: Vec::with_capacity(128),
            bytes: 0,
            error: false,
            no_match: false,
            limited: false,
            expect_ok: false,
        }
    }

    /// Report a `%ok` / `%error` line as [`Event::HoldOk`] / [`Event::HoldRefused`] (after
    /// sending `-holdconnect on`); the banner before it is not part of any answer.
    pub fn expect_ok(&mut self, on: bool) {
        self.expect_ok = on;
    }

    /// Bytes of the unfinished answer.
    pub fn pending_bytes(&self) -> u64 {
        self.bytes
    }

    /// Feeds received bytes; calls `event` for each event in stream order.
    pub fn feed(&mut self, data: &[u8], event: &mut impl FnMut(Event)) {
        self.feed_from(data, true, event);
    }

    /// [`AnswerReader::feed`]; with `skip`, runs of record lines (lines that cannot start
    /// with `%`, `>` or `N`) are passed over whole: the next line that can matter is found
    /// with one substring search per kind of line start ([`LineStarts`]) instead of one
    /// search per line, which was a third of the load generator's CPU at 400,000 answers/s.
    /// Without `skip`, every line is looked at (the tests' oracle).
    fn feed_from(&mut self, data: &[u8], skip: bool, event: &mut impl FnMut(Event)) {
        let mut starts = LineStarts::default();
        let mut pos = 0;
        while pos < data.len() {
            if skip && self.line.is_empty() && !self.expect_ok && !may_matter(data[pos]) {
                // At the start of a record line: skip to the next line that may matter.
                match starts.next(data, pos) {
                    Some(next) => {
                        self.bytes += (next - pos) as u64;
                        pos = next;
                    }
                    None => {
                        // Record lines to the end, the last one perhaps unfinished (it
                        // starts like a record line too, or it would have been found).
                        let tail =
                            memchr::memrchr(b'\n', &data[pos..]).map_or(pos, |i| pos + i + 1);
                        self.bytes += (data.len() - pos) as u64;
                        let keep = (data.len() - tail).min(LINE_KEEP);
                        self.line.extend_from_slice(&data[tail..tail + keep]);
                        return;
                    }
                }
                continue;
            }
            pos += self.feed_line(&data[pos..], event);
        }
    }

    /// Takes in `data` up to the end of its first line (all of it if no line ends there);
    /// returns the bytes taken.
    fn feed_line(&mut self, data: &[u8], event: &mut impl FnMut(Event)) -> usize {
        match memchr::memchr(b'\n', data) {
            None => {
                self.bytes += data.len() as u64;
                let room = LINE_KEEP.saturating_sub(self.line.len());
                self.line.extend_from_slice(&data[..data.len().min(room)]);
                data.len()
            }
            Some(i) => {
                let head = &data[..=i];
                self.bytes += head.len() as u64;
                if self.line.is_empty() {
                    let keep = head.len().min(LINE_KEEP);
                    self.end_line(&head[..keep], event);
                } else {
                    let room = LINE_KEEP.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&head[..head.len().min(room)]);
                    let line = std::mem::take(&mut self.line);
                    self.end_line(&line, event);
                    self.line = line;
                    self.line.clear();
                }
                head.len()
            }
        }
    }

    /// End of input: the unterminated answer's kind when it still counts as an answer
    /// (limiter or error message), `None` when it is short (or there was nothing).
    /// Whether there was anything is [`AnswerReader::pending_bytes`].
    pub fn finish(&mut self) -> Option<AnswerKind> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.classify(&line);
        }
        let kind = if self.limited {
            Some(AnswerKind::Limited)
        } else if self.error {
            Some(AnswerKind::Error)
        } else {
            None
        };
        self.reset();
        kind
    }

    fn reset(&mut self) {
        self.bytes = 0;
        self.error = false;
        self.no_match = false;
        self.limited = false;
    }

    fn end_line(&mut self, line: &[u8], event: &mut impl FnMut(Event)) {
        let line = trim_end(line);
        if self.expect_ok {
            if line.eq_ignore_ascii_case(b"%ok") {
                self.expect_ok = false;
                self.reset();
                event(Event::HoldOk);
                return;
            }
            if starts_with_ci(line, b"%error") {
                self.classify(line);
                let limited = self.limited;
                self.expect_ok = false;
                self.reset();
                event(Event::HoldRefused { limited });
                return;
            }
        }
        // Most lines are record lines: only `%`, `>` and `N` lines mean anything here.
        if !line.first().copied().is_some_and(may_matter) {
            return;
        }
        if starts_with_ci(line, TERMINATOR) {
            let kind = if self.limited {
                AnswerKind::Limited
            } else if self.error {
                AnswerKind::Error
            } else if self.no_match {
                AnswerKind::NoMatch
            } else {
                AnswerKind::Hit
            };
            let bytes = self.bytes;
            self.reset();
            event(Event::Answer { kind, bytes });
            return;
        }
        self.classify(line);
    }

    fn classify(&mut self, line: &[u8]) {
        match line.first() {
            Some(b'%') => {
                if starts_with_ci(line, b"% error") || starts_with_ci(line, b"%error") {
                    self.error = true;
                }
                if !self.limited && self.markers.0.iter().any(|m| contains_ci(line, m)) {
                    self.limited = true;
                }
            }
            Some(b'N' | b'n') if starts_with_ci(line, b"no match for") => self.no_match = true,
            _ => {}
        }
    }
}

/// Can a line starting with `b` end an answer or say what kind it is (`%` notices and
/// errors, the `>>>` terminator, `No match for`)? Other lines are records.
fn may_matter(b: u8) -> bool {
    matches!(b, b'%' | b'>' | b'N' | b'n')
}

/// Searchers for the line starts that [`may_matter`], as the two bytes `\n` and the start
/// (built once).
fn finders() -> &'static [memchr::memmem::Finder<'static>; 4] {
    static FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::LazyLock::new(|| {
            [b"\n%", b"\n>", b"\nN", b"\nn"].map(memchr::memmem::Finder::new)
        });
    &FINDERS
}

/// Finds, in one buffer, the next line that starts with a byte that [`may_matter`]: one
/// substring search per kind of start, each remembered until the position passes it, so
/// each kind costs at most one pass over the buffer however many lines it skips.
#[derive(Debug, Default)]
struct LineStarts {
    /// Per kind: where its next `\n` was found (`Some(usize::MAX)`: nowhere after the
    /// last search), or `None` before the first search.
    found: [Option<usize>; 4],
}

impl LineStarts {
    /// The start of the first line after `from` (a line start) whose first byte
    /// [`may_matter`], or `None` when no such line starts in `data`. `from` never goes
    /// backwards between calls on one buffer.
    fn next(&mut self, data: &[u8], from: usize) -> Option<usize> {
        let mut best = usize::MAX;
        for (found, needle) in self.found.iter_mut().zip(finders()) {
            let at = match *found {
                Some(at) if at == usize::MAX || at >= from => at,
                _ => needle.find(&data[from..]).map_or(usize::MAX, |i| from + i),
            };
            *found = Some(at);
            best = best.min(at);
        }
        best.checked_add(1)
    }
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Does `hay` contain `needle` (already lower-case), ignoring ASCII case?
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &str = "% .coop registry whois service (MKDB)\r\n\
        % Automated bulk queries are not permitted.\r\n\r\n";
    const LAST: &str =
        "\r\n>>> Last update of whois database: 2026-11-23T00:00:00Z (generation 7) <<<\r\n";

    fn hit() -> String {
        format!("Domain Name: example.coop\r\nRegistrar: Foo\r\n{LAST}")
    }

    fn run_split(stream: &[u8], cuts: &[usize], expect_ok: bool) -> (Vec<Event>, AnswerReader) {
        feed_split(stream, cuts, expect_ok, true)
    }

    /// Feeds `stream` cut at `cuts` to a new reader, with or without skipping record lines
    /// ([`AnswerReader::feed_from`]); returns the events and the reader.
    fn feed_split(
        stream: &[u8],
        cuts: &[usize],
        expect_ok: bool,
        skip: bool,
    ) -> (Vec<Event>, AnswerReader) {
        let mut r = AnswerReader::new(Markers::default());
        r.expect_ok(expect_ok);
        let mut events = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
            let c = c.clamp(at, stream.len());
            r.feed_from(&stream[at..c], skip, &mut |e| events.push(e));
            at = c;
        }
        (events, r)
    }

    fn hold_answers() -> Vec<(AnswerKind, String)> {
        vec![
            (AnswerKind::Hit, hit()),
            (
                AnswerKind::NoMatch,
                format!("No match for \"zz.coop\".\r\n{LAST}"),
            ),
            (
                AnswerKind::Error,
                format!("% Error: missing search term\r\n{LAST}"),
            ),
            (
                AnswerKind::Limited,
                format!("% Error: query rate limit exceeded; retry after 10 s\r\n{LAST}"),
            ),
            (
                AnswerKind::Hit,
                format!("Domain Name: a.coop\r\n% More records match (-limit).\r\n{LAST}"),
            ),
        ]
    }

    fn hold_stream() -> Vec<u8> {
        let mut s = format!("{BANNER}%ok\r\n");
        for (_, a) in hold_answers() {
            s.push_str(&a);
        }
        s.into_bytes()
    }

    fn expected_hold() -> Vec<Event> {
        let mut v = vec![Event::HoldOk];
        for (kind, a) in hold_answers() {
            v.push(Event::Answer {
                kind,
                bytes: a.len() as u64,
            });
        }
        v
    }

    #[test]
    fn whole_stream_in_one_read() {
        let (events, r) = run_split(&hold_stream(), &[], true);
        assert_eq!(events, expected_hold());
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let s = hold_stream();
        let want = expected_hold();
        for i in 0..=s.len() {
            assert_eq!(run_split(&s, &[i], true).0, want, "split at {i}");
        }
        // Byte by byte.
        let cuts: Vec<usize> = (0..s.len()).collect();
        assert_eq!(run_split(&s, &cuts, true).0, want);
        // Pseudo-random multi-way splits.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            let mut cuts = Vec::new();
            for _ in 0..6 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                cuts.push((x % s.len() as u64) as usize);
            }
            cuts.sort_unstable();
            assert_eq!(run_split(&s, &cuts, true).0, want, "cuts {cuts:?}");
        }
    }

    #[test]
    fn connect_mode_answer_includes_banner() {
        let s = format!("{BANNER}{}", hit());
        let (events, _) = run_split(s.as_bytes(), &[5, 50], false);
        assert_eq!(
            events,
            vec![Event::Answer {
                kind: AnswerKind::Hit,
                bytes: s.len() as u64
            }]
        );
    }

    #[test]
    fn banner_does_not_count_as_limited_or_error() {
        let s = format!("{BANNER}No match for \"x\".\r\n{LAST}");
        let (events, _) = run_split(s.as_bytes(), &[], false);
        assert!(matches!(
            events[..],
            [Event::Answer {
                kind: AnswerKind::NoMatch,
                ..
            }]
        ));
    }

    #[test]
    fn holdconnect_refused() {
        let s = format!("{BANNER}%error 400 Directive Not Available\r\n");
        let (events, _) = run_split(s.as_bytes(), &[3], true);
        assert_eq!(events, vec![Event::HoldRefused { limited: false }]);
        let s = format!(
            "{BANNER}% Error: this server is at its connection limit; try again in a few \
             seconds\r\n%error 501 Service Not Available\r\n"
        );
        let (events, _) = run_split(s.as_bytes(), &[60], true);
        assert_eq!(events, vec![Event::HoldRefused { limited: true }]);
    }

    #[test]
    fn unterminated_answers_at_end_of_input() {
        let (events, mut r) = run_split(b"Domain Name: a.coop\r\nRegis", &[], false);
        assert!(events.is_empty());
        assert_eq!(r.pending_bytes(), 26);
        assert_eq!(r.finish(), None); // short
        assert_eq!(r.pending_bytes(), 0);

        let (_, mut r) = run_split(b"% Error: line too long\r\n%error 350 Invalid", &[7], false);
        assert_eq!(r.finish(), Some(AnswerKind::Error));

        // A limiter message without its final line end.
        let (_, mut r) = run_split(b"% Too many queries from your address", &[], false);
        assert_eq!(r.finish(), Some(AnswerKind::Limited));
    }

    #[test]
    fn long_lines_are_bounded_and_still_delimited() {
        let mut s = vec![b'x'; 100_000];
        s.extend_from_slice(b"\r\n");
        s.extend_from_slice(LAST.as_bytes());
        let (events, r) = run_split(&s, &[10, 5000, 60_000], false);
        assert_eq!(
            events,
            vec![Event::Answer {
                kind: AnswerKind::Hit,
                bytes: s.len() as u64
            }]
        );
        assert!(r.line.capacity() <= 4 * LINE_KEEP);
    }

    #[test]
    fn whoisd_limiter_messages_are_limited() {
        for msg in [
            "% Error: 127.0.0.2 is refused by this server's access policy; contact the \
             registry if you believe this is a mistake.\r\n%error 501 Service Not Available\r\n",
            "% Error: over 10 queries a second; retry after 1 seconds.\r\n",
        ] {
            let (events, mut r) = run_split(msg.as_bytes(), &[9], false);
            assert!(events.is_empty());
            assert_eq!(r.finish(), Some(AnswerKind::Limited), "{msg}");
        }
    }

    #[test]
    fn custom_markers() {
        let mut r = AnswerReader::new(Markers::new(&["SLOW DOWN"]));
        let mut events = Vec::new();
        r.feed(
            format!("% please slow down\r\n{LAST}").as_bytes(),
            &mut |e| events.push(e),
        );
        assert!(matches!(
            events[..],
            [Event::Answer {
                kind: AnswerKind::Limited,
                ..
            }]
        ));
    }

    /// Feeds `stream` cut at `cuts`, with or without skipping record lines; returns the
    /// events, the unfinished answer's bytes and what `finish` says of it.
    fn events_of(
        stream: &[u8],
        cuts: &[usize],
        expect_ok: bool,
        skip: bool,
    ) -> (Vec<Event>, u64, Option<AnswerKind>) {
        let (events, mut r) = feed_split(stream, cuts, expect_ok, skip);
        let pending = r.pending_bytes();
        (events, pending, r.finish())
    }

    #[test]
    fn skipping_record_lines_changes_nothing_against_reading_every_line() {
        // Lines of every kind that matters and of kinds that look like them in part.
        let long = format!("Remarks: {}\r\n", "x%>Nn ".repeat(300));
        let vocabulary: Vec<String> = vec![
            "Domain Name: example.coop\r\n".into(),
            "Name Server: ns1.example.coop\r\n".into(),
            "name server: lower case\r\n".into(),
            "Registrant Name: N. Nobody\r\n".into(),
            "% More records match (-limit).\r\n".into(),
            "% Error: missing search term\r\n".into(),
            "% Error: query rate limit exceeded; retry after 10 s\r\n".into(),
            "%error 501 Service Not Available\r\n".into(),
            "No match for \"zz.coop\".\r\n".into(),
            "no match for zz\n".into(),
            "Notes: 50% off > all\r\n".into(),
            ">> not the end\r\n".into(),
            "\r\n".into(),
            "\n".into(),
            "   % indented, a record\r\n".into(),
            long,
            "\r\n>>> Last update of whois database: 2026-11-23T00:00:00Z <<<\r\n".into(),
            ">>> last update of whois database: lower case <<<\n".into(),
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rand = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut answers = 0;
        for case in 0..400 {
            let expect_ok = case % 3 == 0;
            let mut s = String::new();
            if expect_ok {
                s.push_str(BANNER);
                s.push_str(if case % 2 == 0 {
                    "%ok\r\n"
                } else {
                    "%error 501 x\r\n"
                });
            }
            for _ in 0..rand(60) {
                s.push_str(&vocabulary[rand(vocabulary.len())]);
            }
            if rand(2) == 0 {
                // An unfinished last line.
                let l = &vocabulary[rand(vocabulary.len())];
                s.push_str(&l[..rand(l.len())]);
            }
            let s = s.into_bytes();
            let mut cuts: Vec<usize> = (0..rand(8)).map(|_| rand(s.len() + 1)).collect();
            cuts.sort_unstable();
            let want = events_of(&s, &cuts, expect_ok, false);
            assert_eq!(
                events_of(&s, &cuts, expect_ok, true),
                want,
                "case {case}, cuts {cuts:?}:\n{}",
                String::from_utf8_lossy(&s)
            );
            answers += want.0.len();
        }
        // The cases did exercise answers (the oracle agreeing on nothing proves nothing).
        assert!(answers > 1000, "{answers}");

        // Record lines whose middle reads like a line that matters, cut at every byte: a
        // reader that lost track of where a line began would see an error or an end there.
        let tricky = format!(
            "Remarks: see % Error: not one\r\nRemarks: x >>> Last update of whois database: no \
             <<<\r\nRemarks: No match for \"y\"\r\nDomain Name: a.coop\r\n{LAST}"
        );
        let tricky = tricky.as_bytes();
        let want = events_of(tricky, &[], false, false);
        assert_eq!(
            want.0,
            vec![Event::Answer {
                kind: AnswerKind::Hit,
                bytes: tricky.len() as u64
            }]
        );
        for i in 0..=tricky.len() {
            assert_eq!(events_of(tricky, &[i], false, true), want, "split at {i}");
            assert_eq!(
                events_of(tricky, &[i, i + 1], false, true),
                want,
                "split at {i}"
            );
        }
    }
}
