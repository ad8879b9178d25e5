//! The rendered snapshot part of /metrics, kept per snapshot so scrapes of
//! the same snapshot share one render: the text as shared bytes for plain
//! scrapes, the gzip head for gzip scrapes, each made the first time a
//! scrape asks for it.
//!
//! Rendering is lazy: the first scrape of a new snapshot renders it (in the
//! blocking pool, never on the async runtime) and every later scrape of that
//! snapshot gets the same bytes for a refcount. A snapshot nobody scrapes is
//! never rendered: Prometheus scrapes every 15-60 s while a snapshot comes
//! every second, so rendering each one eagerly would mostly be thrown away
//! (at 50,000 groups a full render is a sizeable part of a tick, see
//! bench/README.md "/metrics"). It also means a scrape before any render
//! gets a render of the current snapshot, never an empty answer.
//!
//! No lock is held while rendering: the mutex below only guards which
//! snapshot the cache is for (an `Arc` swap); rendering and compressing
//! happen in `OnceLock`s of that snapshot's entry, which only scrapes of that
//! snapshot wait on, in blocking-pool threads. Pages, the API and SSE never
//! touch this.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::gzip::{self, GzipHead};
use super::render::{render_part, render_part_to};
use super::text::{Part, Pieces};
use crate::config::MetricsOptions;
use crate::model::Snapshot;

/// One cluster's snapshot part of a body, as a scrape wants it.
#[derive(Debug, Clone)]
pub enum Head {
    Text(Pieces),
    Gzip(GzipHead),
}

/// One cluster's cache (each cluster has its own: its snapshots come on
/// its own clock).
pub struct MetricsCache {
    options: MetricsOptions,
    /// The configured cluster name (`None`: labelled by Kafka's id).
    configured: Option<String>,
    /// Whether this cluster's render carries the families' HELP/TYPE: the
    /// first cluster's does, the others' are merged under it.
    headers: bool,
    /// Whether other clusters share the exposition: then the gzip head is
    /// cut at the families, to be interleaved with theirs.
    several: bool,
    current: Mutex<Option<Arc<Entry>>>,
    /// Length of the last render and of the last gzip head: the next ones
    /// allocate their buffers once.
    last_len: AtomicUsize,
    last_gzip_len: AtomicUsize,
}

/// One snapshot's render. It holds the snapshot weakly: a cached body must
/// not keep a superseded snapshot (tens of MiB at scale) alive; the weak
/// pointer keeps only its allocation's address from being reused, so the
/// identity check cannot mistake a new snapshot for the old one.
struct Entry {
    snapshot: Weak<Snapshot>,
    sequence: u64,
    text: OnceLock<Pieces>,
    gzip: OnceLock<GzipHead>,
}

impl Entry {
    fn new(snapshot: &Arc<Snapshot>) -> Self {
        Entry {
            snapshot: Arc::downgrade(snapshot),
            sequence: snapshot.sequence,
            text: OnceLock::new(),
            gzip: OnceLock::new(),
        }
    }

    fn is_for(&self, snapshot: &Arc<Snapshot>) -> bool {
        std::ptr::eq(self.snapshot.as_ptr(), Arc::as_ptr(snapshot))
    }

    fn ready(&self, gzip: bool) -> Option<Head> {
        if gzip {
            self.gzip.get().cloned().map(Head::Gzip)
        } else {
            self.text.get().cloned().map(Head::Text)
        }
    }
}

impl Default for MetricsCache {
    fn default() -> Self {
        MetricsCache::new(MetricsOptions::default())
    }
}

impl MetricsCache {
    /// The cache of a single, unnamed cluster.
    pub fn new(options: MetricsOptions) -> Self {
        MetricsCache::for_cluster(options, None, true, false)
    }

    /// The cache of one cluster: `configured` its name, `headers` whether
    /// it is the first (see [`MetricsCache::headers`]), `several` whether
    /// other clusters share the exposition.
    pub fn for_cluster(
        options: MetricsOptions,
        configured: Option<String>,
        headers: bool,
        several: bool,
    ) -> Self {
        MetricsCache {
            options,
            configured,
            headers,
            several,
            current: Mutex::new(None),
            last_len: AtomicUsize::new(0),
            last_gzip_len: AtomicUsize::new(0),
        }
    }

    pub fn options(&self) -> MetricsOptions {
        self.options
    }

    /// Whether its render carries the families' HELP/TYPE.
    pub fn headers(&self) -> bool {
        self.headers
    }

    fn part<'a>(&'a self, snapshot: &'a Snapshot) -> Part<'a> {
        Part {
            cluster: Some(snapshot.cluster_label(self.configured.as_deref())),
            headers: self.headers,
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Entry>>> {
        // Nothing inside can panic half-way; a poisoned slot is still valid.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The part already rendered (and compressed, for gzip) for this
    /// snapshot, if a scrape made it: a refcount, no work.
    pub fn cached(&self, snapshot: &Arc<Snapshot>, gzip: bool) -> Option<Head> {
        let entry = self.current().clone()?;
        if entry.is_for(snapshot) {
            entry.ready(gzip)
        } else {
            None
        }
    }

    /// The entry of `snapshot`, installed when it is newer than the cached
    /// one. A scrape that read the previous snapshot just before a publish
    /// renders it on an entry of its own instead of evicting the newer one.
    fn entry(&self, snapshot: &Arc<Snapshot>) -> Arc<Entry> {
        let mut current = self.current();
        if let Some(entry) = current.as_ref() {
            if entry.is_for(snapshot) {
                return entry.clone();
            }
            let superseded = entry.snapshot.strong_count() == 0;
            if !superseded && snapshot.sequence < entry.sequence {
                return Arc::new(Entry::new(snapshot));
            }
        }
        let entry = Arc::new(Entry::new(snapshot));
        *current = Some(entry.clone());
        entry
    }

    /// Renders, and for gzip compresses, what this snapshot still lacks.
    /// Blocks (for a render, or for another scrape's render of the same
    /// snapshot): call it off the async runtime.
    ///
    /// Each encoding is kept only once asked for: Prometheus always asks
    /// for gzip, so a gzip-only cache holds the compressed head alone
    /// (~10x smaller than the text; at 50,000 groups with every family on
    /// the text is over 100 MiB). A plain scrape after a gzip one renders
    /// the text once more; a gzip scrape after a plain one compresses the
    /// kept text.
    pub fn head_blocking(&self, snapshot: &Arc<Snapshot>, gzip: bool) -> Head {
        let entry = self.entry(snapshot);
        if gzip {
            let head = entry.gzip.get_or_init(|| match entry.text.get() {
                Some(text) => gzip::compress_pieces(text, gzip::LEVEL, self.several),
                None => self.render_gzip(snapshot),
            });
            Head::Gzip(head.clone())
        } else {
            Head::Text(entry.text.get_or_init(|| self.render(snapshot)).clone())
        }
    }

    /// Renders straight into the compressor, ~128 KiB at a time: the text
    /// is compressed while in cache and never allocated whole (at 50,000
    /// groups that is 19-180 MiB of fresh pages per render otherwise).
    fn render_gzip(&self, snapshot: &Snapshot) -> GzipHead {
        let hint = self.last_gzip_len.load(Ordering::Relaxed);
        let mut head = gzip::HeadCompressor::new(gzip::LEVEL, hint + hint / 16);
        if !self.several {
            head = head.whole();
        }
        render_part_to(snapshot, self.options, self.part(snapshot), &mut head);
        let head = head.finish();
        self.last_gzip_len
            .store(head.pieces.bytes.len(), Ordering::Relaxed);
        head
    }

    fn render(&self, snapshot: &Snapshot) -> Pieces {
        let hint = self.last_len.load(Ordering::Relaxed);
        let text = render_part(
            snapshot,
            self.options,
            self.part(snapshot),
            hint + hint / 64 + 4096,
        );
        self.last_len.store(text.bytes.len(), Ordering::Relaxed);
        text
    }

    /// The snapshot part for a scrape: from the cache, or rendered in the
    /// blocking pool. Err only if rendering panicked.
    pub async fn head(
        self: &Arc<Self>,
        snapshot: Arc<Snapshot>,
        gzip: bool,
    ) -> Result<Head, tokio::task::JoinError> {
        if let Some(head) = self.cached(&snapshot, gzip) {
            return Ok(head);
        }
        let cache = self.clone();
        tokio::task::spawn_blocking(move || cache.head_blocking(&snapshot, gzip)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupStatus, GroupView};
    use crate::web::metrics::render::render_snapshot;
    use bytes::Bytes;

    fn snapshot(sequence: u64, groups: usize) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            sequence,
            kafka_up: true,
            groups: (0..groups)
                .map(|g| GroupView {
                    group: format!("group-{g}").into(),
                    group_type: None,
                    state: "Stable".into(),
                    state_note: None,
                    status: GroupStatus::ALL[g % GroupStatus::ALL.len()],
                    reason: String::new(),
                    members: None,
                    lag: g as i64,
                    lag_seconds: 0.5,
                    lost_messages: 0,
                    time_to_clear_seconds: None,
                    messages_out_per_sec: 0.0,
                    topics: vec![],
                    partitions: vec![],
                    error: None,
                })
                .collect(),
            ..Snapshot::default()
        })
    }

    fn text(head: Head) -> Bytes {
        match head {
            Head::Text(text) => text.bytes,
            Head::Gzip(_) => panic!("asked for text"),
        }
    }

    #[test]
    fn the_cached_body_is_a_fresh_render_of_the_same_snapshot() {
        let cache = MetricsCache::default();
        let one = snapshot(1, 30);
        assert!(cache.cached(&one, false).is_none(), "nothing rendered yet");
        let first = text(cache.head_blocking(&one, false));
        assert_eq!(
            first,
            render_snapshot(&one, MetricsOptions::default(), 0).as_bytes()
        );
        let again = text(cache.cached(&one, false).expect("cached"));
        assert_eq!(again.as_ptr(), first.as_ptr(), "shared, not rendered again");

        // A new snapshot is rendered anew.
        let two = snapshot(2, 31);
        assert!(cache.cached(&two, false).is_none());
        let second = text(cache.head_blocking(&two, false));
        assert_eq!(
            second,
            render_snapshot(&two, MetricsOptions::default(), 0).as_bytes()
        );
        // A late scrape of the older snapshot still gets its render, and
        // does not evict the newer one.
        let late = text(cache.head_blocking(&one, false));
        assert_eq!(late, first);
        assert_eq!(
            text(cache.cached(&two, false).expect("still cached")).as_ptr(),
            second.as_ptr()
        );
    }

    #[test]
    fn gzip_is_made_once_and_decodes_to_the_text() {
        use std::io::Read;
        let cache = MetricsCache::default();
        let one = snapshot(1, 100);
        let plain = text(cache.head_blocking(&one, false));
        assert!(cache.cached(&one, true).is_none(), "gzip made on demand");
        let Head::Gzip(head) = cache.head_blocking(&one, true) else {
            panic!("asked for gzip")
        };
        let Some(Head::Gzip(again)) = cache.cached(&one, true) else {
            panic!("gzip cached")
        };
        assert_eq!(again.pieces.bytes.as_ptr(), head.pieces.bytes.as_ptr());
        let tail = "kafka_pulse_web_auth_failures_total 0\n";
        let mut body = head.pieces.bytes.to_vec();
        body.extend_from_slice(&head.finish(tail.as_bytes(), gzip::LEVEL));
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, [&plain[..], tail.as_bytes()].concat());

        // Gzip first: only the compressed head is kept; a plain scrape
        // renders the same text again.
        let cache = MetricsCache::default();
        cache.head_blocking(&one, true);
        assert!(cache.cached(&one, true).is_some());
        assert!(cache.cached(&one, false).is_none(), "the text is not kept");
        assert_eq!(text(cache.head_blocking(&one, false)), plain);
    }

    #[test]
    fn a_republished_snapshot_with_the_same_sequence_is_rendered_again() {
        let cache = MetricsCache::default();
        let first = snapshot(0, 1);
        cache.head_blocking(&first, false);
        drop(first);
        // The store dropped the old snapshot: its entry is superseded even
        // though the sequence did not grow (tests publish sequence 0).
        let replaced = snapshot(0, 2);
        let body = text(cache.head_blocking(&replaced, false));
        assert!(std::str::from_utf8(&body).unwrap().contains("group-1"));
        assert!(cache.cached(&replaced, false).is_some());
    }
}
