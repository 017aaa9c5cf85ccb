//! Durations as the config writes them: `250ms`, `30s`, `5m`, `1h`.

use crate::Errors;
use std::time::Duration;

/// Parses `250ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

/// Reads the optional duration `field` (`v`), from `min_ms` to `max_ms`; absent or wrong
/// (the error is recorded at `field`), it is `default_ms`.
pub fn duration(
    e: &mut Errors,
    field: &str,
    v: Option<&str>,
    default_ms: u64,
    min_ms: u64,
    max_ms: u64,
) -> Duration {
    let Some(v) = v else {
        return Duration::from_millis(default_ms);
    };
    let fmt = |ms: u64| format!("{:?}", Duration::from_millis(ms));
    match parse_duration(v) {
        Some(d) if d >= Duration::from_millis(min_ms) && d <= Duration::from_millis(max_ms) => d,
        Some(_) => {
            e.push_at(
                field,
                format!(
                    "expected a duration from {} to {}, found `{v}`",
                    fmt(min_ms),
                    fmt(max_ms)
                ),
            );
            Duration::from_millis(default_ms)
        }
        None => {
            e.push_at(
                field,
                format!("expected a duration such as 250ms, 30s, 5m or 1h, found `{v}`"),
            );
            Duration::from_millis(default_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
