//! kafka-pulse: see your Kafka queues. docs/ARCHITECTURE.md has the architecture:
//! collector → analysis → store → web / metrics / sinks.
// Unsafe code only where an allocator needs it (alloc.rs, allowed there).
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod alloc;
pub mod analysis;
pub mod app;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod cli;
pub mod collector;
pub mod config;
pub mod demo;
pub mod filter;
pub mod model;
pub mod replay;
pub mod runtime;
pub mod security;
pub mod sinks;
pub mod store;
pub mod web;

/// The lib's own tests run with the binary's allocator wrapper, so the
/// decoding property tests (collector::kafka) meet the same allocations.
#[cfg(all(test, unix))]
#[global_allocator]
static TEST_ALLOCATOR: alloc::LargeAllocsReserved<std::alloc::System> =
    alloc::LargeAllocsReserved(std::alloc::System);
