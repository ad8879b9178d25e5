//! One gzip member made of cached heads and a per-scrape tail, without
//! compressing a head again for every scrape.
//!
//! A head is one cluster's families of one snapshot, deflated once in
//! pieces, one per family. Each piece is a deflate stream of its own ended
//! with a sync flush (an empty, non-final stored block: byte-aligned, no
//! back-reference into anything before it), so pieces can be sent in any
//! order: with one cluster the head goes out whole, as it was compressed;
//! with several, family by family, each family's piece of every cluster
//! under the one HELP/TYPE (the first cluster's pieces carry the headers).
//! Per scrape, the tail is deflated as a stream of its own, ending with the
//! final block, and the gzip trailer carries the CRC-32 of everything sent,
//! combined from the pieces' CRCs. The result is a single, ordinary gzip
//! member (pigz joins blocks the same way), so clients that read only one
//! member — not just Prometheus — get the whole body.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use super::text::{Pieces, Spill};

/// Level 1: the body is repetitive text that level 1 already shrinks
/// ~10×; higher levels cost several times the CPU for a few percent
/// (bench/README.md, "/metrics").
pub const LEVEL: Compression = Compression::fast();

/// Magic, deflate, no flags, no mtime, no extra flags, OS unknown.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The gzip header and one cluster's deflated families, not yet finished.
#[derive(Debug, Clone)]
pub struct GzipHead {
    /// `HEADER`, then the pieces; `bytes` is all of it, for one cluster.
    pub pieces: Pieces,
    /// CRC (and length) of each piece's text, and of all of them.
    crcs: Vec<crc32fast::Hasher>,
    whole: crc32fast::Hasher,
}

/// `text` as a head of one piece.
pub fn compress_head(text: &[u8], level: Compression) -> GzipHead {
    let mut head = HeadCompressor::new(level, text.len() / 8);
    head.write(text);
    head.finish()
}

/// A rendered text compressed piece by piece (a gzip scrape after a plain
/// one: the kept text is compressed, not rendered again).
pub fn compress_pieces(text: &Pieces, level: Compression, per_family: bool) -> GzipHead {
    let mut head = HeadCompressor::new(level, text.bytes.len() / 8);
    head.per_family = per_family;
    for index in 0..text.count() {
        head.family_starts();
        head.write(&text.piece(index));
    }
    head.finish()
}

/// Makes a [`GzipHead`] from text given in pieces (a render spilling as it
/// goes): the text is compressed while still in cache and never held whole.
pub struct HeadCompressor {
    compress: Compress,
    out: Vec<u8>,
    ends: Vec<usize>,
    crcs: Vec<crc32fast::Hasher>,
    crc: crc32fast::Hasher,
    whole: crc32fast::Hasher,
    /// Whether the current piece has begun (a family started or text came).
    open: bool,
    /// Whether each family is a piece of its own; else the whole head is
    /// one piece (one cluster: never interleaved, and a deflate state reset
    /// per family costs ~25 µs, most of a demo-scale render).
    per_family: bool,
}

impl HeadCompressor {
    /// `capacity`: the expected compressed size (the previous head's).
    pub fn new(level: Compression, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 64);
        out.extend_from_slice(&HEADER);
        HeadCompressor {
            compress: Compress::new(level, false),
            out,
            ends: Vec::new(),
            crcs: Vec::new(),
            crc: crc32fast::Hasher::new(),
            whole: crc32fast::Hasher::new(),
            open: false,
            per_family: true,
        }
    }

    /// One piece for the whole head, whatever its families.
    pub fn whole(mut self) -> Self {
        self.per_family = false;
        self
    }

    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) {
        loop {
            if self.out.capacity() - self.out.len() < 4096 {
                self.out.reserve(self.out.len() / 4 + 16 * 1024);
            }
            let before = self.compress.total_in();
            // Deflating into memory cannot fail.
            self.compress
                .compress_vec(input, &mut self.out, flush)
                .expect("deflate into memory");
            input = &input[(self.compress.total_in() - before) as usize..];
            // Done when the input is in and the output had room to spare
            // (for a flush: everything pending was written).
            if input.is_empty() && self.out.len() < self.out.capacity() {
                return;
            }
        }
    }

    /// Ends the current piece with a sync flush; with `more` to come, a
    /// fresh deflate state, so the next piece refers to nothing before it
    /// (a reset clears ~200 KiB of tables: only between pieces).
    fn end_piece(&mut self, more: bool) {
        self.deflate(&[], FlushCompress::Sync);
        if more {
            self.compress.reset();
        }
        self.ends.push(self.out.len());
        self.crcs.push(std::mem::take(&mut self.crc));
    }

    pub fn finish(mut self) -> GzipHead {
        if self.open || self.ends.is_empty() {
            self.end_piece(false);
        }
        GzipHead {
            pieces: Pieces::new(self.out.into(), HEADER.len(), self.ends),
            crcs: self.crcs,
            whole: self.whole,
        }
    }
}

impl Spill for HeadCompressor {
    fn text(&mut self, piece: &str) {
        self.write(piece.as_bytes());
    }

    fn family_starts(&mut self) {
        if self.open && self.per_family {
            self.end_piece(true);
        }
        self.open = true;
    }
}

impl HeadCompressor {
    pub fn write(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        self.open = true;
        self.deflate(piece, FlushCompress::None);
        self.crc.update(piece);
        self.whole.update(piece);
    }
}

impl GzipHead {
    /// The uncompressed length of the whole head.
    pub fn text_len(&self) -> u64 {
        self.whole.clone().total_len()
    }

    /// What follows `self.pieces.bytes` to make the gzip member of head +
    /// `tail`: the tail's deflate stream with the final block, and the
    /// trailer.
    pub fn finish(&self, tail: &[u8], level: Compression) -> Bytes {
        finish_tail(self.whole.clone(), tail, level)
    }
}

/// The gzip member of several clusters' heads, family by family, and
/// `tail`: the chunks to send in order. Every head has the same families
/// (the same options render the same families).
pub fn merge(heads: &[&GzipHead], tail: &[u8], level: Compression) -> Vec<Bytes> {
    let families = heads.first().map_or(0, |h| h.pieces.count());
    let mut chunks = Vec::with_capacity(2 + families * heads.len());
    chunks.push(Bytes::from_static(&HEADER));
    let mut crc = crc32fast::Hasher::new();
    for family in 0..families {
        for head in heads {
            chunks.push(head.pieces.piece(family));
            crc.combine(&head.crcs[family]);
        }
    }
    chunks.push(finish_tail(crc, tail, level));
    chunks
}

/// The tail's deflate stream with the final block, and the gzip trailer
/// for everything before it (`crc`) and the tail.
fn finish_tail(mut crc: crc32fast::Hasher, tail: &[u8], level: Compression) -> Bytes {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::with_capacity(tail.len() / 4 + 16), level);
    encoder.write_all(tail).expect("deflate into memory");
    let mut out = encoder.finish().expect("deflate into memory");
    crc.update(tail);
    // ISIZE: the length modulo 2³² (RFC 1952).
    let size = crc.total_len() as u32;
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip_one_member(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn head_and_tail_decode_as_one_member() {
        let head: String = (0..20_000)
            .map(|i| {
                format!(
                    "kafka_pulse_group_lag_messages{{group=\"g{i}\"}} {}\n",
                    i * 7
                )
            })
            .collect();
        for tail in ["", "x 1\n", "kafka_pulse_web_auth_failures_total 3\n"] {
            for level in [Compression::fast(), Compression::default()] {
                let cached = compress_head(head.as_bytes(), level);
                let mut body = cached.pieces.bytes.to_vec();
                body.extend_from_slice(&cached.finish(tail.as_bytes(), level));
                let decoded = gunzip_one_member(&body);
                assert_eq!(decoded.len(), head.len() + tail.len());
                assert!(decoded == format!("{head}{tail}").into_bytes());
                // Nothing after the member: a multi-member reader agrees.
                let mut all = Vec::new();
                flate2::read::MultiGzDecoder::new(&body[..])
                    .read_to_end(&mut all)
                    .unwrap();
                assert_eq!(all, decoded);
            }
        }
        assert!(
            compress_head(head.as_bytes(), LEVEL).pieces.bytes.len() < head.len() / 5,
            "compresses"
        );
    }

    #[test]
    fn a_head_compressed_in_pieces_is_the_same_stream() {
        let text: String = (0..5_000)
            .map(|i| format!("x{{i=\"{i}\"}} {i}\n"))
            .collect();
        let mut pieces = HeadCompressor::new(LEVEL, 0);
        for chunk in text.as_bytes().chunks(777) {
            pieces.write(chunk);
        }
        let head = pieces.finish();
        let mut body = head.pieces.bytes.to_vec();
        body.extend_from_slice(&head.finish(b"end 1\n", LEVEL));
        assert_eq!(
            gunzip_one_member(&body),
            format!("{text}end 1\n").into_bytes()
        );
    }

    #[test]
    fn the_head_is_reused_with_different_tails() {
        let cached = compress_head(b"a 1\nb 2\n", LEVEL);
        for tail in ["c 3\n", "c 4\nd 5\n"] {
            let mut body = cached.pieces.bytes.to_vec();
            body.extend_from_slice(&cached.finish(tail.as_bytes(), LEVEL));
            assert_eq!(
                gunzip_one_member(&body),
                format!("a 1\nb 2\n{tail}").into_bytes()
            );
        }
    }
}
