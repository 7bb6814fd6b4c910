//! Durations as Kubernetes and Go write them (`10s`, `6m`, `1m30s`, `500ms`, `1h`), and
//! kubectl's human-readable ages.

use std::time::Duration;

/// Parses `10s`, `1m30s`, `500ms`, `2h`, `1.5s`. A bare number is seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {text:?}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            unit => {
                return Err(format!("invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m or h)"));
            }
        };
        total += value * factor;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// kubectl's `HumanDuration`: `45s`, `3m20s`, `15m`, `5h10m`, `20h`, `3d4h`, `40d`, `2y`.
pub(crate) fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (m, h, day) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if day < 8 {
        match h % 24 {
            0 => format!("{day}d"),
            hh => format!("{day}d{hh}h"),
        }
    } else if day < 365 * 2 {
        format!("{day}d")
    } else {
        format!("{}y", day / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("6m").unwrap(), Duration::from_secs(360));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert!(parse("10x").unwrap_err().contains("unknown unit"));
        assert!(parse("").is_err());
    }

    #[test]
    fn human_matches_kubectl() {
        let s = chrono::Duration::seconds;
        assert_eq!(human(s(45)), "45s");
        assert_eq!(human(s(200)), "3m20s");
        assert_eq!(human(s(15 * 60)), "15m");
        assert_eq!(human(s(5 * 3600 + 600)), "5h10m");
        assert_eq!(human(s(20 * 3600)), "20h");
        assert_eq!(human(s(3 * 86400 + 4 * 3600)), "3d4h");
        assert_eq!(human(s(40 * 86400)), "40d");
    }
}
