//! Go's `time.ParseDuration`, the one duration parser Drover has (style.md §15, "one helper for one
//! idea"): `@every <duration>` in CronJob schedules and every duration flag of the CLI
//! (`--worker-lease 10s`, `--timeout=1m30s`) read durations the way Kubernetes and kubectl do.
//!
//! # Grammar
//!
//! `[-+]?([0-9]*(\.[0-9]*)?unit)+`, or the bare `0` (optionally signed), where `unit` is one of
//! `ns`, `us`, `µs` (U+00B5) or `μs` (U+03BC), `ms`, `s`, `m`, `h`. Every element needs a unit; elements
//! add up, and may repeat (`1h1h` is two hours). There is no `d`, no exponent (`1e3s`), and no
//! whitespace.
//!
//! # Guarantees
//!
//! - The value is Go's `time.Duration`: signed nanoseconds in `i64`. Anything outside
//!   `[-2⁶³, 2⁶³−1]` ns is an error, never a wrapped or saturated value.
//! - Fractions are exact to the nanosecond and truncated below it (`1.5h` is exactly 5,400 s,
//!   `1.0000000009s` is 1 s), as Go computes them; fraction digits past 63 bits of precision are
//!   dropped.
//! - The error messages are Go's without the `time: ` prefix, e.g. `unknown unit "d" in duration
//!   "1d"`.
//! - What a caller does with zero or negative values is the caller's rule: `@every` rounds anything
//!   under a second up to one second (robfig/cron's `Every`), the CLI refuses negatives.
//!
//! Pure: no IO, no clock.

/// Nanoseconds in a microsecond, millisecond, second, minute, hour.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Why a string is not a Go duration. The `Display` is Go's message without `time: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// Not of the grammar (empty, no digits, a stray character), or out of the `i64` range.
    #[error("invalid duration {0:?}")]
    Invalid(String),
    /// A number without a unit (`10`).
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit that is not `ns`, `us`, `µs`, `ms`, `s`, `m` or `h`.
    #[error("unknown unit {unit:?} in duration {duration:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration.
        duration: String,
    },
}

/// Parses `text` as Go's `time.ParseDuration` does, into nanoseconds (Go's `time.Duration`).
///
/// `"1h30m"` is 5,400,000,000,000; `"-1.5s"` is -1,500,000,000; `"0"` is 0; `"10"` and `"1d"` are
/// errors.
pub fn parse(text: &str) -> Result<i64, ParseDurationError> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || ParseDurationError::Invalid(text.to_owned());
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();

    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        (negative, s) = (true, rest);
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // The magnitude, up to 2⁶³ (which only a negative duration may reach).
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*
        let n = digits(s);
        let mut whole: u64 = 0;
        for c in s[..n].bytes() {
            whole =
                whole.checked_mul(10).and_then(|w| w.checked_add(u64::from(c - b'0'))).ok_or_else(invalid)?;
            if whole > LIMIT {
                return Err(invalid());
            }
        }
        let pre = n > 0;
        s = &s[n..];
        // (\.[0-9]*)?, digits past 63 bits of precision dropped, as Go's leadingFraction.
        let (mut fraction, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let n = digits(rest);
            for c in rest[..n].bytes() {
                match fraction.checked_mul(10).map(|f| f + u64::from(c - b'0')) {
                    Some(next) if fraction <= (LIMIT - 1) / 10 && next <= LIMIT => {
                        fraction = next;
                        scale *= 10.0;
                    }
                    _ => break,
                }
            }
            post = n > 0;
            s = &rest[n..];
        }
        if !pre && !post {
            // No digits at all: ".s", "-.s".
            return Err(invalid());
        }
        // The unit runs up to the next '.' or digit.
        let n = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if n == 0 {
            return Err(ParseDurationError::MissingUnit(text.to_owned()));
        }
        let Some(&(_, unit)) = UNITS.iter().find(|(name, _)| *name == &s[..n]) else {
            return Err(ParseDurationError::UnknownUnit {
                unit: s[..n].to_owned(),
                duration: text.to_owned(),
            });
        };
        s = &s[n..];
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // As Go: f64 is nanosecond-accurate for fractions of an hour (at most 3.6e12 ns); truncated.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        // Go's uint64 sum could wrap past 2⁶⁴ here; checked, it is an error instead.
        total = total.checked_add(value).filter(|&t| t <= LIMIT).ok_or_else(invalid)?;
    }
    if negative {
        // -2⁶³ is i64::MIN.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}
