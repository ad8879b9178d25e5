//! A bounded queue of encoded records that drops the oldest when full, so a
//! long outage keeps the newest data and memory stays bounded; every drop is
//! counted.

use std::collections::VecDeque;

/// Something queued: counts as `records()` records of `size()` bytes.
pub trait Queued {
    fn records(&self) -> usize;
    fn size(&self) -> usize;
}

/// One unit of work: the encoded records of one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub records: usize,
    pub bytes: String,
}

impl Queued for Chunk {
    fn records(&self) -> usize {
        self.records
    }

    fn size(&self) -> usize {
        self.bytes.len()
    }
}

#[derive(Debug)]
pub struct BoundedQueue<T = Chunk> {
    chunks: VecDeque<T>,
    records: usize,
    /// Encoded bytes held: what a long outage costs in memory.
    bytes: usize,
    capacity: usize,
}

impl<T: Queued> BoundedQueue<T> {
    /// `capacity` in records (lines, documents).
    pub fn new(capacity: usize) -> Self {
        BoundedQueue {
            chunks: VecDeque::new(),
            records: 0,
            bytes: 0,
            capacity: capacity.max(1),
        }
    }

    /// Adds a chunk; returns how many records were dropped to make room.
    pub fn push(&mut self, chunk: T) -> usize {
        self.records += chunk.records();
        self.bytes += chunk.size();
        self.chunks.push_back(chunk);
        self.shed_oldest()
    }

    /// Drops the oldest items while over capacity (never the last one, so a
    /// single oversized item still gets its chance); returns records dropped.
    fn shed_oldest(&mut self) -> usize {
        let mut dropped = 0;
        while self.records > self.capacity && self.chunks.len() > 1 {
            let oldest = self.chunks.pop_front().expect("len > 1");
            self.records -= oldest.records();
            self.bytes -= oldest.size();
            dropped += oldest.records();
        }
        dropped
    }

    /// Takes whole chunks from the front until adding the next would pass
    /// `max_records` or `max_bytes` (always at least one chunk).
    pub fn take_batch(&mut self, max_records: usize, max_bytes: usize) -> Vec<T> {
        let mut batch = Vec::new();
        let (mut records, mut bytes) = (0, 0);
        while let Some(next) = self.chunks.front() {
            let fits = records + next.records() <= max_records && bytes + next.size() <= max_bytes;
            if !batch.is_empty() && !fits {
                break;
            }
            let chunk = self.chunks.pop_front().expect("front exists");
            records += chunk.records();
            bytes += chunk.size();
            self.records -= chunk.records();
            self.bytes -= chunk.size();
            batch.push(chunk);
        }
        batch
    }

    /// Puts a batch that could not be sent back at the front, in order;
    /// returns records dropped if the queue is now over capacity (the batch
    /// is older than anything queued, so it goes first).
    pub fn requeue(&mut self, batch: Vec<T>) -> usize {
        for chunk in batch.into_iter().rev() {
            self.records += chunk.records();
            self.bytes += chunk.size();
            self.chunks.push_front(chunk);
        }
        self.shed_oldest()
    }

    /// Empties the queue; returns the records it held.
    pub fn clear(&mut self) -> usize {
        self.chunks.clear();
        self.bytes = 0;
        std::mem::take(&mut self.records)
    }

    pub fn records(&self) -> usize {
        self.records
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(records: usize) -> Chunk {
        Chunk {
            records,
            bytes: "x".repeat(records),
        }
    }

    #[test]
    fn drops_oldest_when_full_and_counts_it() {
        let mut queue = BoundedQueue::new(10);
        assert_eq!(queue.push(chunk(4)), 0);
        assert_eq!(queue.push(chunk(4)), 0);
        assert_eq!(queue.push(chunk(4)), 4);
        assert_eq!(queue.records(), 8);
    }

    #[test]
    fn bytes_follow_every_change() {
        let sized = |records: usize, bytes: usize| Chunk {
            records,
            bytes: "x".repeat(bytes),
        };
        let mut queue = BoundedQueue::new(10);
        queue.push(sized(4, 100));
        queue.push(sized(4, 30));
        assert_eq!(queue.bytes(), 130);
        queue.push(sized(4, 7)); // the 100-byte chunk is shed
        assert_eq!(queue.bytes(), 37);
        let batch = queue.take_batch(4, 1000);
        assert_eq!(queue.bytes(), 7);
        queue.requeue(batch);
        assert_eq!(queue.bytes(), 37);
        queue.clear();
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn batches_respect_limits_but_always_make_progress() {
        let mut queue = BoundedQueue::new(100);
        for _ in 0..5 {
            queue.push(chunk(10));
        }
        assert_eq!(queue.take_batch(25, 1000).len(), 2);
        assert_eq!(
            queue.take_batch(5, 1000).len(),
            1,
            "an oversized chunk still goes"
        );
        assert_eq!(queue.records(), 20);
    }

    #[test]
    fn requeued_batch_goes_first_and_nothing_is_lost_within_capacity() {
        let mut queue = BoundedQueue::new(100);
        queue.push(Chunk {
            records: 1,
            bytes: "a".into(),
        });
        queue.push(Chunk {
            records: 1,
            bytes: "b".into(),
        });
        let batch = queue.take_batch(1, 100);
        queue.push(Chunk {
            records: 1,
            bytes: "c".into(),
        });
        assert_eq!(queue.requeue(batch), 0);
        let order: Vec<String> = queue
            .take_batch(10, 100)
            .into_iter()
            .map(|c| c.bytes)
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert!(queue.is_empty());
    }
}
