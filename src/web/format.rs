//! Numbers for people: thousands separators and units.

pub use crate::analysis::status::group_digits as int;

/// Messages per second: one decimal below 100, none above.
pub fn rate(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "0".to_string();
    }
    if value < 100.0 {
        let text = format!("{value:.1}");
        text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
    } else {
        int(value.round() as i64)
    }
}

/// Seconds as "0s", "42s", "3m 05s", "2h 07m", "3d 04h".
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.5 {
        return "0s".to_string();
    }
    let total = seconds.round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours:02}h")
    } else if hours > 0 {
        format!("{hours}h {minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs:02}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_naturally() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(5.0), "5");
        assert_eq!(rate(12345.6), "12,346");
        assert_eq!(rate(f64::NAN), "0");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.2), "0s");
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(185.0), "3m 05s");
        assert_eq!(duration(7620.0), "2h 07m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 04h");
    }
}
