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

/// An offset that may be missing ("—": no commit yet / unknown).
pub fn offset(value: Option<i64>) -> String {
    value.map(int).unwrap_or_else(|| "—".to_string())
}

/// Broker ids as "1, 2, 3".
pub fn ids(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name` as one URL path segment or query value: everything but unreserved characters is
/// percent-encoded, so "/", "?", "#", "<" and spaces in topic or group
/// names cannot change what a link points to.
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The name a [`path_segment`] (or any percent-encoded segment) stands
/// for; `None` when it does not decode to UTF-8.
pub fn decode_path_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let (high, low) = (hex(bytes[i + 1])?, hex(bytes[i + 2])?);
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            b'%' => return None,
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
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
    fn names_cannot_escape_their_path_segment() {
        assert_eq!(path_segment("orders.v1_a-b~"), "orders.v1_a-b~");
        assert_eq!(path_segment("a/b c?#"), "a%2Fb%20c%3F%23");
        assert_eq!(path_segment("<é>"), "%3C%C3%A9%3E");
        for name in ["a/b c?#", "<é>", "billing/eu west", ""] {
            assert_eq!(
                decode_path_segment(&path_segment(name)).as_deref(),
                Some(name)
            );
        }
        assert_eq!(decode_path_segment("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(decode_path_segment("a%2"), None);
        assert_eq!(decode_path_segment("%ff"), None);
        assert_eq!(offset(None), "—");
        assert_eq!(offset(Some(1234)), "1,234");
        assert_eq!(ids(&[1, 2]), "1, 2");
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
