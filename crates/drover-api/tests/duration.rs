//! `drover_api::duration::parse`: Go's `time.ParseDuration`, value for value and message for
//! message (the cases follow Go's own `parseDurationTests`), for `@every` and the CLI's flags.

use drover_api::duration::{ParseDurationError, parse};

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

#[test]
fn parses_as_go() {
    struct Case {
        name: &'static str,
        text: &'static str,
        /// Nanoseconds.
        want: i64,
    }
    let cases = [
        // Zero, with and without a unit or sign.
        Case { name: "bare zero", text: "0", want: 0 },
        Case { name: "bare zero, minus", text: "-0", want: 0 },
        Case { name: "bare zero, plus", text: "+0", want: 0 },
        Case { name: "zero seconds", text: "0s", want: 0 },
        Case { name: "zero point zero", text: "0.0s", want: 0 },
        // Every unit.
        Case { name: "ns", text: "10ns", want: 10 * NS },
        Case { name: "us", text: "11us", want: 11 * US },
        Case { name: "micro sign", text: "12µs", want: 12 * US },
        Case { name: "greek mu", text: "12μs", want: 12 * US },
        Case { name: "ms", text: "13ms", want: 13 * MS },
        Case { name: "s", text: "14s", want: 14 * S },
        Case { name: "m", text: "15m", want: 15 * M },
        Case { name: "h", text: "16h", want: 16 * H },
        // Signs.
        Case { name: "negative", text: "-1s", want: -S },
        Case { name: "plus", text: "+5s", want: 5 * S },
        Case { name: "negative applies to the whole", text: "-2m3.4s", want: -(2 * M + 3 * S + 400 * MS) },
        // Fractions.
        Case { name: "fraction of an hour", text: "1.5h", want: 90 * M },
        Case { name: "leading dot", text: ".5s", want: 500 * MS },
        Case { name: "trailing dot", text: "5.s", want: 5 * S },
        Case { name: "trailing zeros", text: "100.00100s", want: 100 * S + MS },
        Case { name: "below a nanosecond truncated", text: "1.0000000009s", want: S },
        Case { name: "thirds of an hour", text: "0.3333333333333333333h", want: 20 * M },
        Case { name: "many fraction digits", text: "0.100000000000000000000h", want: 6 * M },
        Case {
            name: "fraction digits past 63 bits dropped",
            text: "0.830103483285477580700h",
            want: 49 * M + 48 * S + 372_539_827 * NS,
        },
        // Combinations.
        Case { name: "hours and minutes", text: "1h30m", want: 90 * M },
        Case { name: "any order", text: "10.5s4m", want: 4 * M + 10 * S + 500 * MS },
        Case { name: "a unit twice adds up", text: "1h1h", want: 2 * H },
        Case {
            name: "every unit",
            text: "1h2m3s4ms5us6ns",
            want: H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
        },
        Case { name: "large", text: "39h9m14.425s", want: 39 * H + 9 * M + 14 * S + 425 * MS },
        // Precision and the ends of the range.
        Case { name: "2^53 + 1 ns, exact", text: "9007199254740993ns", want: (1 << 53) + 1 },
        Case { name: "the maximum", text: "9223372036854775807ns", want: i64::MAX },
        Case { name: "the maximum in us", text: "9223372036854775.807us", want: i64::MAX },
        Case { name: "the maximum in parts", text: "9223372036s854ms775us807ns", want: i64::MAX },
        Case { name: "the minimum", text: "-9223372036854775808ns", want: i64::MIN },
        Case { name: "the minimum in us", text: "-9223372036854775.808us", want: i64::MIN },
        Case { name: "the largest whole hour", text: "2562047h", want: 2_562_047 * H },
    ];
    for case in cases {
        assert_eq!(parse(case.text), Ok(case.want), "{}: {:?}", case.name, case.text);
    }
}

#[test]
fn refuses_as_go() {
    struct Case {
        name: &'static str,
        text: &'static str,
        /// Go's message without `time: `.
        message: &'static str,
    }
    let cases = [
        Case { name: "empty", text: "", message: r#"invalid duration """# },
        Case { name: "only a sign", text: "-", message: r#"invalid duration "-""# },
        Case { name: "only a unit", text: "s", message: r#"invalid duration "s""# },
        Case { name: "only a dot", text: ".", message: r#"invalid duration ".""# },
        Case { name: "minus dot", text: "-.", message: r#"invalid duration "-.""# },
        Case { name: "dot unit", text: ".s", message: r#"invalid duration ".s""# },
        Case { name: "plus dot unit", text: "+.s", message: r#"invalid duration "+.s""# },
        Case { name: "two signs", text: "--1s", message: r#"invalid duration "--1s""# },
        Case {
            name: "a sign inside is part of the unit",
            text: "1m-1s",
            message: r#"unknown unit "m-" in duration "1m-1s""#,
        },
        Case { name: "leading space", text: " 1s", message: r#"invalid duration " 1s""# },
        Case { name: "no unit", text: "3", message: r#"missing unit in duration "3""# },
        Case { name: "no unit after a unit", text: "1h30", message: r#"missing unit in duration "1h30""# },
        Case { name: "two dots", text: "1.5.5s", message: r#"missing unit in duration "1.5.5s""# },
        Case { name: "days", text: "1d", message: r#"unknown unit "d" in duration "1d""# },
        Case { name: "an exponent", text: "1e3s", message: r#"unknown unit "e" in duration "1e3s""# },
        Case { name: "upper case", text: "1S", message: r#"unknown unit "S" in duration "1S""# },
        Case { name: "a long unit", text: "1sec", message: r#"unknown unit "sec" in duration "1sec""# },
        Case { name: "trailing space", text: "1s ", message: r#"unknown unit "s " in duration "1s ""# },
        Case { name: "inner space", text: "1 s", message: r#"unknown unit " s" in duration "1 s""# },
        // Overflow: outside [-2^63, 2^63 - 1] ns.
        Case {
            name: "2^63 ns",
            text: "9223372036854775808ns",
            message: r#"invalid duration "9223372036854775808ns""#,
        },
        Case {
            name: "2^63 ns in us",
            text: "9223372036854775.808us",
            message: r#"invalid duration "9223372036854775.808us""#,
        },
        Case {
            name: "below the minimum",
            text: "-9223372036854775809ns",
            message: r#"invalid duration "-9223372036854775809ns""#,
        },
        Case { name: "too many hours", text: "2562048h", message: r#"invalid duration "2562048h""# },
        Case {
            name: "too many digits",
            text: "99999999999999999999s",
            message: r#"invalid duration "99999999999999999999s""#,
        },
        Case {
            name: "the sum overflows",
            text: "9223372036854775807ns1ns",
            message: r#"invalid duration "9223372036854775807ns1ns""#,
        },
        // Go's uint64 sum wraps to 0 here and accepts it; refused instead.
        Case {
            name: "the sum would wrap",
            text: "9223372036854775808ns9223372036854775808ns",
            message: r#"invalid duration "9223372036854775808ns9223372036854775808ns""#,
        },
    ];
    for case in cases {
        match parse(case.text) {
            Ok(nanos) => panic!("{}: {:?} should not parse, got {nanos} ns", case.name, case.text),
            Err(e) => assert_eq!(e.to_string(), case.message, "{}: message for {:?}", case.name, case.text),
        }
    }
}

#[test]
fn errors_name_the_input_and_the_unit() {
    assert_eq!(parse("10"), Err(ParseDurationError::MissingUnit("10".into())));
    assert_eq!(
        parse("1h2d"),
        Err(ParseDurationError::UnknownUnit { unit: "d".into(), duration: "1h2d".into() })
    );
    assert_eq!(parse("x"), Err(ParseDurationError::Invalid("x".into())));
}
