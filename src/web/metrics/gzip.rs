//! One gzip member made of a cached head and a per-scrape tail, without
//! compressing the head again for every scrape.
//!
//! The head is deflated once and ended with a sync flush (an empty,
//! non-final stored block: the stream stays open and byte-aligned). Per
//! scrape, the tail is deflated as a stream of its own, ending with the
//! final block; it is appended after the head's bytes (its back-references
//! never reach into the head, which deflate allows) and the gzip trailer
//! carries the CRC-32 of head and tail, continued from the head's. The
//! result is a single, ordinary gzip member (pigz joins blocks the same
//! way), so clients that read only one member — not just Prometheus — get
//! the whole body.

use std::io::Write;

use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// Level 1: the body is repetitive text that level 1 already shrinks
/// ~10×; higher levels cost several times the CPU for a few percent
/// (bench/README.md, "/metrics").
pub const LEVEL: Compression = Compression::fast();

/// Magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The gzip header and the head's deflate blocks, not yet finished.
#[derive(Debug, Clone)]
pub struct GzipHead {
    pub bytes: Bytes,
    crc: u32,
    len: u64,
}

pub fn compress_head(text: &[u8], level: Compression) -> GzipHead {
    let mut head = HeadCompressor::new(level, text.len() / 8);
    head.write(text);
    head.finish()
}

/// Makes a [`GzipHead`] from text given in pieces (a render spilling as it
/// goes): the text is compressed while still in cache and never held whole.
pub struct HeadCompressor {
    encoder: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl HeadCompressor {
    /// `capacity`: the expected compressed size (the previous head's).
    pub fn new(level: Compression, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 64);
        out.extend_from_slice(&HEADER);
        HeadCompressor {
            encoder: DeflateEncoder::new(out, level),
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    pub fn write(&mut self, piece: &[u8]) {
        // Writing into a Vec cannot fail.
        self.encoder.write_all(piece).expect("deflate into memory");
        self.crc.update(piece);
        self.len += piece.len() as u64;
    }

    pub fn finish(mut self) -> GzipHead {
        // A sync flush, not finish(): no final block, so the tail can follow.
        self.encoder.flush().expect("deflate into memory");
        let out = std::mem::take(self.encoder.get_mut());
        // Dropping the encoder finishes its stream into the empty Vec taken
        // out above: a few discarded bytes.
        drop(self.encoder);
        GzipHead {
            bytes: out.into(),
            crc: self.crc.finalize(),
            len: self.len,
        }
    }
}

impl GzipHead {
    /// What follows `self.bytes` to make the gzip member of head + `tail`:
    /// the tail's deflate stream with the final block, and the trailer.
    pub fn finish(&self, tail: &[u8], level: Compression) -> Bytes {
        let mut encoder = DeflateEncoder::new(Vec::with_capacity(tail.len() / 4 + 16), level);
        encoder.write_all(tail).expect("deflate into memory");
        let mut out = encoder.finish().expect("deflate into memory");
        let mut crc = crc32fast::Hasher::new_with_initial(self.crc);
        crc.update(tail);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the length modulo 2³² (RFC 1952).
        let size = (self.len + tail.len() as u64) as u32;
        out.extend_from_slice(&size.to_le_bytes());
        out.into()
    }
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
                let mut body = cached.bytes.to_vec();
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
            compress_head(head.as_bytes(), LEVEL).bytes.len() < head.len() / 5,
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
        let mut body = head.bytes.to_vec();
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
            let mut body = cached.bytes.to_vec();
            body.extend_from_slice(&cached.finish(tail.as_bytes(), LEVEL));
            assert_eq!(
                gunzip_one_member(&body),
                format!("a 1\nb 2\n{tail}").into_bytes()
            );
        }
    }
}
