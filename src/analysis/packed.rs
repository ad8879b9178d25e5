//! A bounded ring of small integer tuples, stored as varint deltas.
//!
//! The analyzer keeps a window per group-partition and a time table per
//! partition: at 200,000 group-partitions, 24-byte points in a `VecDeque`
//! each cost more than the rest of the process. Consecutive points differ
//! little (a second of time, a few hundred offsets), so each point after the
//! first is kept as the zigzag varint of its difference to the one before:
//! typically 1–3 bytes per number instead of 8, with exact values.

/// Up to `u16::MAX` points of `N` i64 each; the caller bounds the length.
#[derive(Debug, Clone, Default)]
pub struct PackedRing<const N: usize> {
    /// The oldest point in full, then one delta per later point.
    bytes: Vec<u8>,
    len: u16,
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Writes the varint of `value` to the front of `out`; returns its length.
fn encode(value: i64, out: &mut [u8]) -> usize {
    let mut v = zigzag(value);
    let mut len = 0;
    while v >= 0x80 {
        out[len] = (v as u8) | 0x80;
        v >>= 7;
        len += 1;
    }
    out[len] = v as u8;
    len + 1
}

fn put(bytes: &mut Vec<u8>, value: i64) {
    let mut buffer = [0u8; 10];
    let len = encode(value, &mut buffer);
    bytes.extend_from_slice(&buffer[..len]);
}

/// Reads one varint at `*at`, moving `*at` past it.
fn get(bytes: &[u8], at: &mut usize) -> i64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return unzigzag(value);
        }
        shift += 7;
    }
}

fn put_point<const N: usize>(bytes: &mut Vec<u8>, point: &[i64; N]) {
    for &v in point {
        put(bytes, v);
    }
}

fn get_point<const N: usize>(bytes: &[u8], at: &mut usize) -> [i64; N] {
    let mut point = [0; N];
    for v in &mut point {
        *v = get(bytes, at);
    }
    point
}

fn delta<const N: usize>(from: &[i64; N], to: &[i64; N]) -> [i64; N] {
    let mut d = [0; N];
    for i in 0..N {
        d[i] = to[i].wrapping_sub(from[i]);
    }
    d
}

fn add<const N: usize>(point: &mut [i64; N], d: &[i64; N]) {
    for i in 0..N {
        point[i] = point[i].wrapping_add(d[i]);
    }
}

fn sub<const N: usize>(point: &mut [i64; N], d: &[i64; N]) {
    for i in 0..N {
        point[i] = point[i].wrapping_sub(d[i]);
    }
}

/// Where the last of the `N` varints ending at `end` starts: a varint's
/// last byte is its only one below 0x80, so the bytes before a varint's end
/// that are 0x80 or more belong to it.
fn point_start<const N: usize>(bytes: &[u8], end: usize) -> usize {
    let mut at = end;
    for _ in 0..N {
        at -= 1;
        while at > 0 && bytes[at - 1] >= 0x80 {
            at -= 1;
        }
    }
    at
}

impl<const N: usize> PackedRing<N> {
    /// `pop_front` rewrites the head in a fixed buffer of 4 varints.
    const FITS_HEAD_BUFFER: () = assert!(N <= 4, "PackedRing holds at most 4 values a point");

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.len = 0;
    }

    /// Oldest first.
    pub fn iter(&self) -> PackedIter<'_, N> {
        PackedIter {
            bytes: &self.bytes,
            at: 0,
            left: self.len,
            point: [0; N],
        }
    }

    pub fn first(&self) -> Option<[i64; N]> {
        self.iter().next()
    }

    pub fn last(&self) -> Option<[i64; N]> {
        self.iter().last()
    }

    pub fn push(&mut self, point: [i64; N]) {
        match self.last() {
            None => {
                self.bytes.clear();
                put_point(&mut self.bytes, &point);
            }
            Some(last) => put_point(&mut self.bytes, &delta(&last, &point)),
        }
        self.len += 1;
    }

    /// `push` for a caller that keeps the ring's last point: `last()`
    /// decodes the whole ring, and the time tables push once a tick on
    /// each of up to 200,000 partitions.
    pub fn push_after(&mut self, last: [i64; N], point: [i64; N]) {
        if self.len == 0 {
            self.push(point);
            return;
        }
        debug_assert_eq!(self.last(), Some(last));
        put_point(&mut self.bytes, &delta(&last, &point));
        self.len += 1;
    }

    /// `set_last` for a caller that keeps the point before the last (at
    /// least two points): only the last point's bytes are read.
    pub fn set_last_after(&mut self, before_last: [i64; N], point: [i64; N]) {
        debug_assert!(self.len >= 2);
        let start = point_start::<N>(&self.bytes, self.bytes.len());
        self.bytes.truncate(start);
        put_point(&mut self.bytes, &delta(&before_last, &point));
    }

    /// Newest first, for a caller that keeps the ring's last point: walks
    /// back only as far as it is asked to (a commit is usually a few points
    /// from the newest, the head is the oldest).
    pub fn iter_back(&self, last: [i64; N]) -> PackedBackIter<'_, N> {
        debug_assert!(self.is_empty() || self.last() == Some(last));
        PackedBackIter {
            bytes: &self.bytes,
            end: self.bytes.len(),
            left: self.len,
            point: last,
        }
    }

    /// Drops the oldest point.
    pub fn pop_front(&mut self) {
        match self.len {
            0 => {}
            1 => self.clear(),
            _ => {
                // The second point becomes the absolute head. Its encoding
                // is never longer than the old head and delta together (a
                // varint grows by at most a byte when the value changes by
                // at least one), so it is written in place: no allocation.
                let mut at = 0;
                let mut first = get_point::<N>(&self.bytes, &mut at);
                let d = get_point::<N>(&self.bytes, &mut at);
                add(&mut first, &d);
                let (head, head_len) = Self::encode_point(&first);
                if head_len <= at {
                    let start = at - head_len;
                    self.bytes[start..at].copy_from_slice(&head[..head_len]);
                    self.bytes.drain(..start);
                } else {
                    self.bytes.splice(..at, head[..head_len].iter().copied());
                }
                self.len -= 1;
            }
        }
    }

    /// Removes the point at `index` (not the first: use `pop_front`), in
    /// place: its delta and the next one merge into one, whose encoding is
    /// never longer than the two together.
    pub fn remove(&mut self, index: usize) {
        let len = self.len();
        assert!(index > 0 && index < len, "remove({index}) of {len} points");
        let mut at = 0;
        get_point::<N>(&self.bytes, &mut at);
        for _ in 1..index {
            get_point::<N>(&self.bytes, &mut at);
        }
        let start = at;
        let removed = get_point::<N>(&self.bytes, &mut at);
        if index + 1 == len {
            self.bytes.truncate(start);
        } else {
            let mut merged = get_point::<N>(&self.bytes, &mut at);
            add(&mut merged, &removed);
            let (encoded, encoded_len) = Self::encode_point(&merged);
            let end = at;
            debug_assert!(encoded_len <= end - start);
            self.bytes[start..start + encoded_len].copy_from_slice(&encoded[..encoded_len]);
            self.bytes.drain(start + encoded_len..end);
        }
        self.len -= 1;
    }

    /// One point's varints in a stack buffer (for rewrites in place).
    fn encode_point(point: &[i64; N]) -> ([u8; 10 * 4], usize) {
        let () = Self::FITS_HEAD_BUFFER;
        let mut out = [0u8; 10 * 4];
        let mut len = 0;
        for &v in point {
            len += encode(v, &mut out[len..]);
        }
        (out, len)
    }

    /// Replaces the newest point (the ring must not be empty).
    pub fn set_last(&mut self, point: [i64; N]) {
        let mut at = 0;
        let mut start = 0;
        let mut previous = None;
        let mut current = [0; N];
        for i in 0..self.len {
            start = at;
            let read = get_point::<N>(&self.bytes, &mut at);
            if i == 0 {
                current = read;
            } else {
                previous = Some(current);
                add(&mut current, &read);
            }
        }
        self.bytes.truncate(start);
        match previous {
            None => put_point(&mut self.bytes, &point),
            Some(previous) => put_point(&mut self.bytes, &delta(&previous, &point)),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

pub struct PackedIter<'a, const N: usize> {
    bytes: &'a [u8],
    at: usize,
    left: u16,
    point: [i64; N],
}

impl<const N: usize> Iterator for PackedIter<'_, N> {
    type Item = [i64; N];

    fn next(&mut self) -> Option<[i64; N]> {
        if self.left == 0 {
            return None;
        }
        let first = self.at == 0;
        let read = get_point::<N>(self.bytes, &mut self.at);
        if first {
            self.point = read;
        } else {
            add(&mut self.point, &read);
        }
        self.left -= 1;
        Some(self.point)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl<const N: usize> ExactSizeIterator for PackedIter<'_, N> {}

pub struct PackedBackIter<'a, const N: usize> {
    bytes: &'a [u8],
    /// End of the encoding of the point `next` returns.
    end: usize,
    left: u16,
    point: [i64; N],
}

impl<const N: usize> Iterator for PackedBackIter<'_, N> {
    type Item = [i64; N];

    fn next(&mut self) -> Option<[i64; N]> {
        if self.left == 0 {
            return None;
        }
        let point = self.point;
        self.left -= 1;
        if self.left > 0 {
            // Bytes start..end are the delta that led to `point`.
            let start = point_start::<N>(self.bytes, self.end);
            let mut at = start;
            let d = get_point::<N>(self.bytes, &mut at);
            sub(&mut self.point, &d);
            self.end = start;
        }
        Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_matches_a_plain_list() {
        // Random pushes (small steps, huge jumps, extremes), removals at
        // random places, front pops and last-point rewrites, each by
        // either form (decoding the ring or told its last points), checked
        // against a Vec after every step, forwards and backwards.
        let mut next = crate::analysis::xorshift(0x9E37_79B9_7F4A_7C15);
        let mut ring = PackedRing::<2>::default();
        let mut model: Vec<[i64; 2]> = Vec::new();
        for _ in 0..20_000 {
            let value = |r: u64| match r % 5 {
                0 => (r >> 8) as i64 % 100,
                1 => (r >> 8) as i64,
                2 => i64::MIN + (r % 3) as i64,
                3 => i64::MAX - (r % 3) as i64,
                _ => 1_700_000_000_000 + (r >> 20) as i64 % 1_000_000,
            };
            match next() % 6 {
                0..=2 => {
                    let point = [value(next()), value(next())];
                    match model.last() {
                        Some(&last) if next() % 2 == 0 => ring.push_after(last, point),
                        _ => ring.push(point),
                    }
                    model.push(point);
                }
                3 if model.len() > 1 => {
                    let index = 1 + (next() as usize) % (model.len() - 1);
                    ring.remove(index);
                    model.remove(index);
                }
                4 if !model.is_empty() => {
                    ring.pop_front();
                    model.remove(0);
                }
                5 if !model.is_empty() => {
                    let point = [value(next()), value(next())];
                    if model.len() >= 2 && next() % 2 == 0 {
                        ring.set_last_after(model[model.len() - 2], point);
                    } else {
                        ring.set_last(point);
                    }
                    *model.last_mut().expect("not empty") = point;
                }
                _ => {}
            }
            assert_eq!(ring.iter().collect::<Vec<_>>(), model);
            if let Some(&last) = model.last() {
                let mut back: Vec<_> = ring.iter_back(last).collect();
                back.reverse();
                assert_eq!(back, model);
            }
            if model.len() > 50 {
                ring.clear();
                model.clear();
            }
        }
    }

    #[test]
    fn keeps_exact_values_through_push_pop_and_set_last() {
        let mut ring = PackedRing::<3>::default();
        let points = [
            [1_700_000_000_000, 0, 5],
            [1_700_000_001_000, 1_000_000_000_000, 0],
            [1_700_000_000_500, -7, i64::MAX],
            [i64::MIN, 3, 4],
        ];
        for p in points {
            ring.push(p);
        }
        assert_eq!(ring.iter().collect::<Vec<_>>(), points);
        ring.pop_front();
        assert_eq!(ring.first(), Some(points[1]));
        ring.set_last([9, 9, 9]);
        assert_eq!(
            ring.iter().collect::<Vec<_>>(),
            [points[1], points[2], [9, 9, 9]]
        );
        ring.pop_front();
        ring.pop_front();
        assert_eq!(ring.iter().collect::<Vec<_>>(), [[9, 9, 9]]);
        ring.set_last([1, 2, 3]);
        assert_eq!(ring.last(), Some([1, 2, 3]));
        ring.pop_front();
        assert!(ring.is_empty());
        assert_eq!(ring.last(), None);
    }

    #[test]
    fn small_steps_take_few_bytes() {
        let mut ring = PackedRing::<3>::default();
        for i in 0..10 {
            ring.push([1_700_000_000_000 + i * 1000, 5_000_000 + i * 90, 40]);
        }
        // The first point in full (~6 + 4 + 1 bytes), then 2 + 2 + 1 per step.
        assert!(ring.bytes.len() <= 11 + 9 * 5, "{}", ring.bytes.len());
    }
}
