//! A process's figures from /proc, read one way by the tests that measure a
//! child kafka-pulse (tests/scale.rs, tests/multi_cluster.rs) and by the
//! memory benches that measure themselves (benches/common includes this
//! file).

/// The first number of the line starting with `field` (e.g. `"VmRSS:"`) in
/// a /proc file such as `/proc/PID/status` or `/proc/meminfo`, as written
/// (kB for memory, a count for `Threads:`); NaN when it cannot be read.
pub fn proc_field(file: &str, field: &str) -> f64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

/// `field` of `/proc/PID/status`.
pub fn status_field(pid: u32, field: &str) -> f64 {
    proc_field(&format!("/proc/{pid}/status"), field)
}
