//! Rates from two observations of a monotonic counter (watermark or committed
//! offset), using the real time between the samples.

/// Messages per second between two counter readings `elapsed_seconds` apart.
/// A counter that went backwards (topic recreated, offsets reset) or a
/// non-positive interval yields 0, never a negative rate or a spike.
pub fn per_second(previous: Option<i64>, current: Option<i64>, elapsed_seconds: f64) -> f64 {
    match (previous, current) {
        (Some(before), Some(now)) if now >= before && elapsed_seconds > 0.0 => {
            (now - before) as f64 / elapsed_seconds
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_uses_the_real_interval() {
        assert_eq!(per_second(Some(100), Some(400), 1.5), 200.0);
    }

    #[test]
    fn backwards_counter_gives_zero_not_negative() {
        assert_eq!(per_second(Some(500), Some(10), 1.0), 0.0);
    }

    #[test]
    fn missing_reading_or_zero_interval_gives_zero() {
        assert_eq!(per_second(None, Some(10), 1.0), 0.0);
        assert_eq!(per_second(Some(1), None, 1.0), 0.0);
        assert_eq!(per_second(Some(1), Some(5), 0.0), 0.0);
    }
}
