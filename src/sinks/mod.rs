//! Sinks ship what the collector saw to other systems. They read snapshots
//! from the store and never slow the collector: each has a bounded queue and
//! counts what it sent, dropped and failed (exported on /metrics).

pub mod elasticsearch;
pub mod influxdb;
pub mod queue;
pub mod retry;
