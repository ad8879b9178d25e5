//! kafka-pulse: see your Kafka queues. docs/ARCHITECTURE.md has the architecture:
//! collector → analysis → store → web / metrics / sinks.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod app;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod collector;
pub mod config;
pub mod demo;
pub mod filter;
pub mod model;
pub mod replay;
pub mod security;
pub mod sinks;
pub mod store;
pub mod web;
