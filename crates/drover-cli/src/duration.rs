//! Duration flags as kubectl reads them (`--timeout=1m30s`, `--worker-lease 10s`), through the one
//! Go-duration parser ([`drover_api::duration::parse`]). Human-readable ages are
//! [`drover_api::table::human_duration`], shared with the server's tables.

use std::time::Duration;

/// A flag's duration: Go's `time.ParseDuration` grammar (`10s`, `1m30s`, `500ms`, `1.5h`), with two
/// rules of the CLI on top: a bare number is seconds (`2` is `2s`), and a negative duration is
/// refused. Surrounding whitespace (from an environment variable or a YAML value) is ignored.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bare_number = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let nanos = if bare_number {
        drover_api::duration::parse(&format!("{text}s")).map_err(|_| format!("invalid duration {text:?}"))?
    } else {
        drover_api::duration::parse(text).map_err(|e| e.to_string())?
    };
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {text:?}: must not be negative"))
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

    /// The CLI's rules on top of Go's grammar; the grammar itself is tested in drover-api.
    #[test]
    fn flag_rules_on_top_of_go() {
        let secs = Duration::from_secs;
        let ok = [
            ("1.5", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            (" 10s\n", secs(10)),
            ("1h1h", secs(7200)),
            ("+5s", secs(5)),
            (".5s", Duration::from_millis(500)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text:?}");
        }
        let refused = [
            ("-1s", r#"invalid duration "-1s": must not be negative"#),
            ("1d", r#"unknown unit "d" in duration "1d""#),
            ("1e3s", r#"unknown unit "e" in duration "1e3s""#),
            ("1e3", r#"unknown unit "e" in duration "1e3""#),
            (".", r#"invalid duration ".""#),
            ("", r#"invalid duration """#),
            ("99999999999999999999", r#"invalid duration "99999999999999999999""#),
        ];
        for (text, message) in refused {
            assert_eq!(parse(text), Err(message.to_owned()), "{text:?}");
        }
    }
}
