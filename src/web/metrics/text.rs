//! Prometheus text format 0.0.4 primitives: family headers, series with
//! escaped labels, numbers. Writes straight into one buffer (no per-line or
//! per-label allocation, no `fmt` machinery for numbers): at 50,000 groups
//! a render is 10^5 to 10^6 lines.

use bytes::Bytes;

/// A consumer of rendered text in pieces (the gzip compressor): the whole
/// text never has to exist at once.
pub trait Spill {
    fn text(&mut self, piece: &str);
    /// A family begins: the text so far ends the previous family's piece.
    fn family_starts(&mut self);
}

/// Text spilled to the consumer in pieces of about this size: small enough
/// to stay in cache for the compressor, large enough to amortise its calls.
const SPILL_BYTES: usize = 128 * 1024;

/// Whose series a writer writes, and whether it writes the families'
/// HELP/TYPE: with several clusters only the first cluster's render carries
/// them, so the merged exposition has each family's header once.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The `cluster` label of every series; `None`: no cluster label (the
    /// process-wide families).
    pub cluster: Option<&'a str>,
    pub headers: bool,
}

impl Part<'_> {
    /// A whole exposition without cluster label.
    pub const PLAIN: Part<'static> = Part {
        cluster: None,
        headers: true,
    };
}

/// A text cut in pieces, one per family (for a gzip head, each piece its
/// own deflate stream): `bytes[start..ends[0]]`, `bytes[ends[0]..ends[1]]`,
/// ... Everything from `start` on is the pieces in order.
#[derive(Debug, Clone)]
pub struct Pieces {
    pub bytes: Bytes,
    start: usize,
    ends: Vec<usize>,
}

impl Pieces {
    pub fn new(bytes: Bytes, start: usize, ends: Vec<usize>) -> Self {
        Pieces { bytes, start, ends }
    }

    pub fn count(&self) -> usize {
        self.ends.len()
    }

    /// Piece `index` (a refcount, no copy).
    pub fn piece(&self, index: usize) -> Bytes {
        let from = index
            .checked_sub(1)
            .map_or(self.start, |before| self.ends[before]);
        self.bytes.slice(from..self.ends[index])
    }
}

/// Appends lines of the exposition to `out`, or hands them to a spill in
/// pieces.
pub struct Writer<'s> {
    pub out: String,
    spill: Option<&'s mut dyn Spill>,
    /// `{cluster="NAME"` (escaped), opening every series' labels.
    cluster: Option<String>,
    headers: bool,
    /// Where each family starts in `out` (not spilling).
    starts: Vec<usize>,
}

impl<'s> Writer<'s> {
    pub fn with_capacity(capacity: usize) -> Self {
        Writer::new(String::with_capacity(capacity), None, Part::PLAIN)
    }

    /// A writer of one cluster's part of the exposition.
    pub fn for_part(capacity: usize, part: Part<'_>) -> Self {
        Writer::new(String::with_capacity(capacity), None, part)
    }

    fn new(out: String, spill: Option<&'s mut dyn Spill>, part: Part<'_>) -> Self {
        Writer {
            out,
            spill,
            cluster: part.cluster.map(|name| {
                let mut open = String::from("{cluster=\"");
                escape_into(&mut open, name);
                open.push('"');
                open
            }),
            headers: part.headers,
            starts: Vec::new(),
        }
    }

    /// Continues an exposition already in `out`.
    pub fn resume(out: String) -> Self {
        Writer::new(out, None, Part::PLAIN)
    }

    /// Hands the text to `spill` in pieces instead of keeping it; call
    /// [`Writer::finish`] at the end.
    pub fn spilling(spill: &'s mut dyn Spill, part: Part<'_>) -> Self {
        Writer::new(String::with_capacity(SPILL_BYTES + 4096), Some(spill), part)
    }

    fn maybe_spill(&mut self) {
        if self.out.len() >= SPILL_BYTES {
            if let Some(spill) = self.spill.as_mut() {
                spill.text(&self.out);
                self.out.clear();
            }
        }
    }

    /// Spills what is left; the text when not spilling.
    pub fn finish(mut self) -> String {
        if let Some(spill) = self.spill.as_mut().filter(|_| !self.out.is_empty()) {
            spill.text(&self.out);
            self.out.clear();
        }
        self.out
    }

    /// The text cut at the families (not spilling); text before the first
    /// family belongs to it.
    pub fn finish_pieces(self) -> Pieces {
        let mut ends: Vec<usize> = self.starts.iter().skip(1).copied().collect();
        ends.push(self.out.len());
        Pieces::new(Bytes::from(self.out), 0, ends)
    }

    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        match self.spill.as_mut() {
            Some(spill) => {
                if !self.out.is_empty() {
                    spill.text(&self.out);
                    self.out.clear();
                }
                spill.family_starts();
            }
            None => self.starts.push(self.out.len()),
        }
        if !self.headers {
            return;
        }
        for piece in [
            "# HELP ",
            name,
            " ",
            help,
            "\n# TYPE ",
            name,
            " ",
            kind,
            "\n",
        ] {
            self.out.push_str(piece);
        }
    }

    /// Starts one series line; add labels, then end it with a value.
    pub fn series(&mut self, name: &str) -> Series<'_> {
        self.maybe_spill();
        self.out.push_str(name);
        let labelled = match &self.cluster {
            Some(open) => {
                self.out.push_str(open);
                true
            }
            None => false,
        };
        Series {
            out: &mut self.out,
            labelled,
        }
    }
}

/// One series line being written: `name{labels} value`.
#[must_use = "a series line ends with its value"]
pub struct Series<'w> {
    out: &'w mut String,
    labelled: bool,
}

impl Series<'_> {
    fn key(&mut self, key: &str) {
        self.out.push(if self.labelled { ',' } else { '{' });
        self.labelled = true;
        self.out.push_str(key);
        self.out.push_str("=\"");
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        escape_into(self.out, value);
        self.out.push('"');
        self
    }

    pub fn label_int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('"');
        self
    }

    fn close(&mut self) {
        if self.labelled {
            self.out.push('}');
        }
        self.out.push(' ');
    }

    pub fn value(mut self, value: f64) {
        self.close();
        push_number(self.out, value);
        self.out.push('\n');
    }

    /// Counts, offsets and levels: written exactly (an `f64` would round
    /// offsets above 2⁵³).
    pub fn int(mut self, value: i64) {
        self.close();
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('\n');
    }

    pub fn count(self, value: usize) {
        self.int(i64::try_from(value).unwrap_or(i64::MAX));
    }

    pub fn flag(self, on: bool) {
        self.int(i64::from(on));
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_into(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as Prometheus reads it (`NaN`, `+Inf`, `-Inf`).
pub fn number(value: f64) -> String {
    let mut out = String::new();
    push_number(&mut out, value);
    out
}

/// Integral values as integers ("3", as Rust's and Go's formatting write
/// them), others as the shortest text that reads back as the same `f64`.
fn push_number(out: &mut String, value: f64) {
    /// Integers up to 2^53 are exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() <= EXACT {
        out.push_str(itoa::Buffer::new().format(value as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_into(&mut out, "a\"b\\c\nd");
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn series_lines() {
        let mut w = Writer::with_capacity(64);
        w.series("up").flag(true);
        w.series("lag")
            .label("group", "g\"1")
            .label_int("partition", 3)
            .int(1 << 60);
        w.series("seconds").label("le", "+Inf").value(f64::NAN);
        w.series("rate").value(0.25);
        w.family("rate", "gauge", "Per second.");
        assert_eq!(
            w.out,
            "up 1\nlag{group=\"g\\\"1\",partition=\"3\"} 1152921504606846976\n\
             seconds{le=\"+Inf\"} NaN\nrate 0.25\n\
             # HELP rate Per second.\n# TYPE rate gauge\n"
        );
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::INFINITY), "+Inf");
        for (value, text) in [
            (3.0, "3"),
            (-0.0, "0"),
            (0.005, "0.005"),
            (1.5e300, "1.5e300"),
        ] {
            assert_eq!(number(value), text);
            assert_eq!(number(value).parse::<f64>().unwrap(), value);
        }
    }

    #[test]
    fn a_spilling_writer_hands_over_the_same_text_in_pieces() {
        let write = |w: &mut Writer| {
            for i in 0..20_000 {
                w.series("kafka_pulse_group_lag_messages")
                    .label("group", &format!("group-{i}"))
                    .int(i);
            }
        };
        let mut whole = Writer::with_capacity(0);
        write(&mut whole);
        struct Collect(Vec<String>);
        impl Spill for Collect {
            fn text(&mut self, piece: &str) {
                self.0.push(piece.to_string());
            }
            fn family_starts(&mut self) {}
        }
        let mut pieces = Collect(Vec::new());
        let mut spilling = Writer::spilling(&mut pieces, Part::PLAIN);
        write(&mut spilling);
        assert!(spilling.finish().is_empty());
        assert!(pieces.0.len() > 1, "{} pieces", pieces.0.len());
        assert_eq!(pieces.0.concat(), whole.finish());
    }
}
