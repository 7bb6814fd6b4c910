//! `drover_api::cron`: the robfig/cron v3 `ParseStandard` grammar as Kubernetes accepts it, and fire
//! times in an IANA zone with Drover's DST policy (a skipped wall time fires once at the end of the
//! gap, a repeated one fires once at its first occurrence).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use drover_api::cron::Schedule;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("bad time {s}: {e}")).to_utc()
}

fn parse(name: &str, spec: &str) -> Schedule {
    Schedule::parse(spec).unwrap_or_else(|e| panic!("{name}: {spec:?} should parse: {e}"))
}

const UTC: Tz = Tz::UTC;
const NEW_YORK: Tz = Tz::America__New_York;
const BERLIN: Tz = Tz::Europe__Berlin;
const TOKYO: Tz = Tz::Asia__Tokyo;

#[test]
fn parse_accepts() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        /// `every()` in whole seconds.
        every: Option<u64>,
    }
    let cases = [
        Case { name: "question mark as dow", spec: "0 * * * ?", every: None },
        Case { name: "step from star", spec: "*/15 2 * * *", every: None },
        Case { name: "dom and dow", spec: "0 0 1 * 1", every: None },
        Case { name: "fridays at noon", spec: "0 12 * * 5", every: None },
        Case { name: "ranges, lists and steps", spec: "0-59/5 0-23 1-31 1-12 0-6", every: None },
        Case { name: "a/n runs to the maximum", spec: "5/15 * * * *", every: None },
        Case { name: "question mark in every field", spec: "? ? ? ? ?", every: None },
        Case { name: "month and day names", spec: "0 9 * JAN-MAR MON-FRI", every: None },
        Case { name: "names are case-insensitive", spec: "0 9 * jan-Mar mon,Sat", every: None },
        Case { name: "extra whitespace", spec: " 0  *\t* * * ", every: None },
        Case { name: "robfig ignores what follows *-", spec: "*-5 * * * *", every: None },
        Case { name: "robfig skips empty list elements", spec: "1,,2 * * * *", every: None },
        Case { name: "Atoi accepts a plus sign", spec: "+5 * * * *", every: None },
        Case { name: "@yearly", spec: "@yearly", every: None },
        Case { name: "@annually", spec: "@annually", every: None },
        Case { name: "@monthly", spec: "@monthly", every: None },
        Case { name: "@weekly", spec: "@weekly", every: None },
        Case { name: "@daily", spec: "@daily", every: None },
        Case { name: "@midnight", spec: "@midnight", every: None },
        Case { name: "@hourly", spec: "@hourly", every: None },
        Case { name: "every hour", spec: "@every 1h", every: Some(3600) },
        Case { name: "every 2 seconds", spec: "@every 2s", every: Some(2) },
        Case { name: "compound duration", spec: "@every 1h30m", every: Some(5400) },
        Case { name: "fractional hours", spec: "@every 1.5h", every: Some(5400) },
        Case { name: "90 seconds", spec: "@every 90s", every: Some(90) },
        Case { name: "under a second becomes one second", spec: "@every 500ms", every: Some(1) },
        Case { name: "microseconds, micro sign", spec: "@every 1µs", every: Some(1) },
        Case { name: "fractional seconds truncated", spec: "@every 2m1.9s", every: Some(121) },
        Case { name: "leading dot fraction", spec: "@every .5m", every: Some(30) },
        Case { name: "plus sign", spec: "@every +10s", every: Some(10) },
        // robfig's `Every` (what Kubernetes runs): under a second, zero and negative included, is
        // one second.
        Case { name: "zero is every second", spec: "@every 0s", every: Some(1) },
        Case { name: "bare zero is every second", spec: "@every 0", every: Some(1) },
        Case { name: "negative is every second", spec: "@every -1h", every: Some(1) },
        Case { name: "just under a second", spec: "@every 999ms", every: Some(1) },
        Case { name: "repeated units add up", spec: "@every 1m1m", every: Some(120) },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        assert_eq!(schedule.every(), case.every.map(Duration::from_secs), "{}: every()", case.name);
        assert_eq!(schedule.to_string(), case.spec, "{}: Display is the original text", case.name);
    }
}

#[test]
fn parse_rejects() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        /// The message must be exactly this.
        message: &'static str,
    }
    let cases = [
        Case { name: "empty", spec: "", message: "empty spec string" },
        Case { name: "blank", spec: "   ", message: r#"expected exactly 5 fields, found 0: "   ""# },
        Case {
            name: "six fields",
            spec: "0 0 * * * *",
            message: r#"expected exactly 5 fields, found 6: "0 0 * * * *""#,
        },
        Case {
            name: "four fields",
            spec: "0 * * *",
            message: r#"expected exactly 5 fields, found 4: "0 * * *""#,
        },
        Case {
            name: "TZ prefix is a sixth field",
            spec: "TZ=UTC 0 * * * *",
            message: r#"expected exactly 5 fields, found 6: "TZ=UTC 0 * * * *""#,
        },
        Case { name: "minute 61", spec: "61 * * * *", message: "end of range (61) above maximum (59): 61" },
        Case { name: "hour 24", spec: "0 24 * * *", message: "end of range (24) above maximum (23): 24" },
        Case { name: "dom 0", spec: "0 0 0 * *", message: "beginning of range (0) below minimum (1): 0" },
        Case { name: "month 13", spec: "0 0 * 13 *", message: "end of range (13) above maximum (12): 13" },
        Case { name: "dow 7", spec: "* * * * 7", message: "end of range (7) above maximum (6): 7" },
        Case {
            name: "dow range to 7",
            spec: "* * * * 5-7",
            message: "end of range (7) above maximum (6): 5-7",
        },
        Case {
            name: "step 0",
            spec: "*/0 * * * *",
            message: "step of range should be a positive number: */0",
        },
        Case { name: "negative step", spec: "*/-1 * * * *", message: "negative number (-1) not allowed: -1" },
        Case {
            name: "reversed range",
            spec: "5-3 * * * *",
            message: "beginning of range (5) beyond end of range (3): 5-3",
        },
        Case { name: "too many hyphens", spec: "1-2-3 * * * *", message: "too many hyphens: 1-2-3" },
        Case { name: "too many slashes", spec: "*/2/3 * * * *", message: "too many slashes: */2/3" },
        Case { name: "L", spec: "L * * * *", message: "failed to parse int from L" },
        Case { name: "W", spec: "0 0 15W * *", message: "failed to parse int from 15W" },
        Case { name: "hash", spec: "0 0 * * 5#2", message: "failed to parse int from 5#2" },
        Case { name: "full day name", spec: "0 0 * * MONDAY", message: "failed to parse int from MONDAY" },
        Case {
            name: "names only in month and dow",
            spec: "jan * * * *",
            message: "failed to parse int from jan",
        },
        Case { name: "empty range end", spec: "5- * * * *", message: "failed to parse int from " },
        Case { name: "@reboot", spec: "@reboot", message: "unrecognized descriptor: @reboot" },
        Case {
            name: "descriptors are case-sensitive",
            spec: "@Hourly",
            message: "unrecognized descriptor: @Hourly",
        },
        Case { name: "@every without duration", spec: "@every", message: "unrecognized descriptor: @every" },
        Case {
            name: "@every days",
            spec: "@every 1d",
            message: r#"failed to parse duration @every 1d: unknown unit "d" in duration "1d""#,
        },
        Case {
            name: "@every missing unit",
            spec: "@every 10",
            message: r#"failed to parse duration @every 10: missing unit in duration "10""#,
        },
        Case {
            name: "@every empty duration",
            spec: "@every ",
            message: r#"failed to parse duration @every : invalid duration """#,
        },
        Case {
            name: "@every exponent",
            spec: "@every 1e3s",
            message: r#"failed to parse duration @every 1e3s: unknown unit "e" in duration "1e3s""#,
        },
        Case {
            name: "@every two spaces",
            spec: "@every  1s",
            message: r#"failed to parse duration @every  1s: invalid duration " 1s""#,
        },
        Case {
            name: "@every overflow",
            spec: "@every 9999999999h",
            message: r#"failed to parse duration @every 9999999999h: invalid duration "9999999999h""#,
        },
    ];
    for case in cases {
        match Schedule::parse(case.spec) {
            Ok(schedule) => panic!("{}: {:?} should not parse, got {schedule:?}", case.name, case.spec),
            Err(e) => assert_eq!(e.to_string(), case.message, "{}: message for {:?}", case.name, case.spec),
        }
    }
}

/// Schedules written differently that must fire at the same times.
#[test]
fn equivalent_schedules() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        same_as: &'static str,
    }
    let cases = [
        Case { name: "@hourly", spec: "@hourly", same_as: "0 * * * *" },
        Case { name: "@daily", spec: "@daily", same_as: "0 0 * * *" },
        Case { name: "@weekly", spec: "@weekly", same_as: "0 0 * * 0" },
        Case { name: "@monthly", spec: "@monthly", same_as: "0 0 1 * *" },
        Case { name: "@yearly", spec: "@yearly", same_as: "0 0 1 1 *" },
        Case { name: "? is *", spec: "? ? ? ? ?", same_as: "* * * * *" },
        Case { name: "a/n", spec: "5/15 * * * *", same_as: "5,20,35,50 * * * *" },
        Case { name: "names", spec: "0 9 * JAN-MAR MON-FRI", same_as: "0 9 * 1-3 1-5" },
        Case { name: "lower-case name", spec: "0 9 * * mon", same_as: "0 9 * * 1" },
        Case { name: "*/1 is a star: AND", spec: "0 0 */1 * 1", same_as: "0 0 * * 1" },
        Case { name: "*/2 is not a star: OR", spec: "0 0 */2 * 1", same_as: "0 0 1-31/2 * 1" },
        Case { name: "*-5 is *", spec: "*-5 0 * * *", same_as: "* 0 * * *" },
    ];
    for case in cases {
        let (a, b) = (parse(case.name, case.spec), parse(case.name, case.same_as));
        let (mut ta, mut tb) = (at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
        for i in 0..200 {
            let (na, nb) = (a.next_after(ta, BERLIN), b.next_after(tb, BERLIN));
            assert_eq!(na, nb, "{}: fire time #{i} of {:?} and {:?}", case.name, case.spec, case.same_as);
            let Some(n) = na else { break };
            (ta, tb) = (n, n);
        }
    }
}

/// Successive `next_after` results, each one also checked against `latest_between`.
#[test]
fn next_after() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        tz: Tz,
        after: &'static str,
        /// The successive fire times after `after`; empty: none within five years.
        want: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "hourly",
            spec: "0 * * * *",
            tz: UTC,
            after: "2026-01-05T09:59:00Z",
            want: &["2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z"],
        },
        Case {
            name: "hourly, exactly on a fire time",
            spec: "@hourly",
            tz: UTC,
            after: "2026-01-05T10:00:00Z",
            want: &["2026-01-05T11:00:00Z"],
        },
        Case {
            name: "Kubernetes: created Thursday, fires Friday",
            spec: "0 12 * * 5",
            tz: UTC,
            after: "2016-05-19T10:00:00Z",
            want: &["2016-05-20T12:00:00Z", "2016-05-27T12:00:00Z"],
        },
        Case {
            name: "dom OR dow: Mondays and the 1st (a Sunday)",
            spec: "0 0 1 * 1",
            tz: UTC,
            after: "2026-01-02T00:00:00Z",
            want: &[
                "2026-01-05T00:00:00Z",
                "2026-01-12T00:00:00Z",
                "2026-01-19T00:00:00Z",
                "2026-01-26T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-02-02T00:00:00Z",
            ],
        },
        Case {
            name: "dom star AND dow: only Mondays",
            spec: "0 0 * * 1",
            tz: UTC,
            after: "2026-01-02T00:00:00Z",
            want: &[
                "2026-01-05T00:00:00Z",
                "2026-01-12T00:00:00Z",
                "2026-01-19T00:00:00Z",
                "2026-01-26T00:00:00Z",
                "2026-02-02T00:00:00Z",
            ],
        },
        Case {
            name: "a/n",
            spec: "5/15 * * * *",
            tz: UTC,
            after: "2026-01-05T10:00:00Z",
            want: &[
                "2026-01-05T10:05:00Z",
                "2026-01-05T10:20:00Z",
                "2026-01-05T10:35:00Z",
                "2026-01-05T10:50:00Z",
                "2026-01-05T11:05:00Z",
            ],
        },
        Case {
            name: "February 31st never exists",
            spec: "59 23 31 2 *",
            tz: UTC,
            after: "2026-01-01T00:00:00Z",
            want: &[],
        },
        Case {
            name: "leap day",
            spec: "0 0 29 2 *",
            tz: UTC,
            after: "2026-01-01T00:00:00Z",
            want: &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        },
        Case {
            name: "@yearly",
            spec: "@yearly",
            tz: UTC,
            after: "2026-06-01T00:00:00Z",
            want: &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"],
        },
        Case {
            name: "Tokyo 09:00 is 00:00Z",
            spec: "0 9 * * *",
            tz: TOKYO,
            after: "2026-01-05T01:00:00Z",
            want: &["2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"],
        },
        Case {
            name: "New York spring forward: 02:30 fires at 03:00 EDT, once",
            spec: "30 2 * * *",
            tz: NEW_YORK,
            after: "2026-03-07T12:00:00Z",
            want: &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        },
        Case {
            name: "New York spring forward: four firings in the gap collapse into one",
            spec: "*/15 2 * * *",
            tz: NEW_YORK,
            after: "2026-03-07T12:00:00Z",
            want: &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"],
        },
        Case {
            name: "New York spring forward: 03:00 matches itself and still fires once",
            spec: "0,30 2,3 * * *",
            tz: NEW_YORK,
            after: "2026-03-08T05:00:00Z",
            want: &["2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:00:00Z"],
        },
        Case {
            name: "New York fall back: 01:30 fires at its EDT occurrence only",
            spec: "30 1 * * *",
            tz: NEW_YORK,
            after: "2026-10-31T12:00:00Z",
            want: &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        },
        Case {
            name: "New York fall back: hourly skips 01:00 EST",
            spec: "0 * * * *",
            tz: NEW_YORK,
            after: "2026-11-01T03:30:00Z",
            want: &[
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z",
            ],
        },
        Case {
            name: "New York fall back: after a time in the repeated hour's second pass",
            spec: "*/20 * * * *",
            tz: NEW_YORK,
            after: "2026-11-01T06:10:00Z",
            want: &["2026-11-01T07:00:00Z", "2026-11-01T07:20:00Z"],
        },
        Case {
            name: "Berlin spring forward: 02:30 fires at 03:00 CEST",
            spec: "30 2 * * *",
            tz: BERLIN,
            after: "2026-03-28T12:00:00Z",
            want: &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
        },
        Case {
            name: "Berlin spring forward: the gap fires once",
            spec: "*/15 2 * * *",
            tz: BERLIN,
            after: "2026-03-28T12:00:00Z",
            want: &["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"],
        },
        Case {
            name: "Berlin fall back: 02:30 fires at its CEST occurrence only",
            spec: "30 2 * * *",
            tz: BERLIN,
            after: "2026-10-24T12:00:00Z",
            want: &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        },
        Case {
            name: "Berlin fall back: hourly skips 02:00 CET",
            spec: "0 * * * *",
            tz: BERLIN,
            after: "2026-10-24T23:30:00Z",
            want: &["2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"],
        },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        let anchor = at(case.after);
        let mut after = anchor;
        let mut previous = None;
        for (i, want) in case.want.iter().map(|w| at(w)).enumerate() {
            let got = schedule.next_after(after, case.tz);
            assert_eq!(got, Some(want), "{}: fire time #{i} after {after}", case.name);
            assert_eq!(
                schedule.latest_between(anchor, want, case.tz),
                Some(want),
                "{}: latest_between up to fire time #{i}",
                case.name
            );
            assert_eq!(
                schedule.latest_between(anchor, want - TimeDelta::seconds(1), case.tz),
                previous,
                "{}: latest_between up to just before fire time #{i}",
                case.name
            );
            (after, previous) = (want, Some(want));
        }
        if case.want.is_empty() {
            assert_eq!(schedule.next_after(after, case.tz), None, "{}: no fire time expected", case.name);
        }
    }
}

#[test]
fn every() {
    let two = parse("every 2s", "@every 2s");
    let cases: [(&str, &Schedule, &str, &str, Option<&str>); 5] = [
        (
            "after is the anchor",
            &two,
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:07Z",
            Some("2026-01-05T10:00:06Z"),
        ),
        (
            "now exactly on a fire time",
            &two,
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:02Z",
            Some("2026-01-05T10:00:02Z"),
        ),
        ("nothing due yet", &two, "2026-01-05T10:00:00Z", "2026-01-05T10:00:01.999Z", None),
        (
            "anchor truncated to the second",
            &two,
            "2026-01-05T10:00:00.700Z",
            "2026-01-05T10:00:02Z",
            Some("2026-01-05T10:00:02Z"),
        ),
        ("now before anchor", &two, "2026-01-05T10:00:00Z", "2026-01-05T09:00:00Z", None),
    ];
    for (name, schedule, anchor, now, want) in cases {
        assert_eq!(
            schedule.latest_between(at(anchor), at(now), NEW_YORK),
            want.map(at),
            "{name}: latest_between"
        );
    }

    struct Case {
        name: &'static str,
        spec: &'static str,
        after: &'static str,
        want: &'static str,
    }
    let cases = [
        Case { name: "2s", spec: "@every 2s", after: "2026-01-05T10:00:00Z", want: "2026-01-05T10:00:02Z" },
        Case {
            name: "sub-second after",
            spec: "@every 2s",
            after: "2026-01-05T10:00:00.700Z",
            want: "2026-01-05T10:00:02Z",
        },
        Case {
            name: "1h30m",
            spec: "@every 1h30m",
            after: "2026-01-05T10:00:00Z",
            want: "2026-01-05T11:30:00Z",
        },
        Case {
            name: "not tied to the wall clock or DST",
            spec: "@every 1h",
            after: "2026-11-01T05:17:03Z",
            want: "2026-11-01T06:17:03Z",
        },
        Case {
            name: "0s runs every second, as Kubernetes runs it",
            spec: "@every 0s",
            after: "2026-01-05T10:00:00.700Z",
            want: "2026-01-05T10:00:01Z",
        },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        assert_eq!(
            schedule.next_after(at(case.after), NEW_YORK),
            Some(at(case.want)),
            "{}: next_after",
            case.name
        );
    }
}

#[test]
fn latest_between() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        tz: Tz,
        anchor: &'static str,
        now: &'static str,
        want: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "hourly, anchor a week ago",
            spec: "0 * * * *",
            tz: UTC,
            anchor: "2026-01-01T09:00:00Z",
            now: "2026-01-08T10:30:00Z",
            want: Some("2026-01-08T10:00:00Z"),
        },
        Case {
            name: "now is inclusive",
            spec: "0 * * * *",
            tz: UTC,
            anchor: "2026-01-08T10:00:00Z",
            now: "2026-01-08T11:00:00Z",
            want: Some("2026-01-08T11:00:00Z"),
        },
        Case {
            name: "anchor is exclusive: none due",
            spec: "0 * * * *",
            tz: UTC,
            anchor: "2026-01-08T10:00:00Z",
            now: "2026-01-08T10:59:59Z",
            want: None,
        },
        Case {
            name: "now before anchor",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-08T10:00:00Z",
            now: "2026-01-08T09:00:00Z",
            want: None,
        },
        Case {
            name: "irregular: the 1st and 2nd, mid-month",
            spec: "0 0 1,2 * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-03-15T00:00:00Z",
            want: Some("2026-03-02T00:00:00Z"),
        },
        Case {
            name: "irregular: the 1st and 2nd, on the 1st",
            spec: "0 0 1,2 * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-03-01T12:00:00Z",
            want: Some("2026-03-01T00:00:00Z"),
        },
        Case {
            name: "irregular: the 1st and 2nd, end of February",
            spec: "0 0 1,2 * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-02-28T23:59:59Z",
            want: Some("2026-02-02T00:00:00Z"),
        },
        Case {
            name: "leap day, decades",
            spec: "0 0 29 2 *",
            tz: UTC,
            anchor: "2000-03-01T00:00:00Z",
            now: "2026-01-01T00:00:00Z",
            want: Some("2024-02-29T00:00:00Z"),
        },
        Case {
            name: "never fires",
            spec: "59 23 31 2 *",
            tz: UTC,
            anchor: "1970-01-01T00:00:00Z",
            now: "2026-01-01T00:00:00Z",
            want: None,
        },
        Case {
            name: "New York spring forward: at the end of the gap",
            spec: "30 2 * * *",
            tz: NEW_YORK,
            anchor: "2026-03-01T00:00:00Z",
            now: "2026-03-08T07:00:00Z",
            want: Some("2026-03-08T07:00:00Z"),
        },
        Case {
            name: "New York spring forward: just before the gap",
            spec: "30 2 * * *",
            tz: NEW_YORK,
            anchor: "2026-03-01T00:00:00Z",
            now: "2026-03-08T06:59:59Z",
            want: Some("2026-03-07T07:30:00Z"),
        },
        Case {
            name: "New York fall back: every minute, during the repeated hour's second pass",
            spec: "* * * * *",
            tz: NEW_YORK,
            anchor: "2026-11-01T00:00:00Z",
            now: "2026-11-01T06:45:00Z",
            want: Some("2026-11-01T05:59:00Z"),
        },
        Case {
            name: "New York fall back: hourly, during the repeated hour's second pass",
            spec: "0 * * * *",
            tz: NEW_YORK,
            anchor: "2026-11-01T00:00:00Z",
            now: "2026-11-01T06:30:00Z",
            want: Some("2026-11-01T05:00:00Z"),
        },
        Case {
            name: "New York fall back: anchor in the second pass",
            spec: "40 1 * * *",
            tz: NEW_YORK,
            anchor: "2026-11-01T06:30:00Z",
            now: "2026-11-01T06:45:00Z",
            want: None,
        },
        Case {
            name: "Berlin fall back: every minute, during the repeated hour's second pass",
            spec: "* * * * *",
            tz: BERLIN,
            anchor: "2026-10-24T00:00:00Z",
            now: "2026-10-25T01:10:30Z",
            want: Some("2026-10-25T00:59:00Z"),
        },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        assert_eq!(
            schedule.latest_between(at(case.anchor), at(case.now), case.tz),
            case.want.map(at),
            "{}: latest_between",
            case.name
        );
    }
}

#[test]
fn latest_between_is_fast_over_years() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        want: &'static str,
    }
    let (anchor, now) = (at("2023-01-05T10:00:00Z"), at("2026-01-05T10:30:45.5Z"));
    let cases = [
        Case { name: "every minute", spec: "* * * * *", want: "2026-01-05T10:30:00Z" },
        Case { name: "every second", spec: "@every 1s", want: "2026-01-05T10:30:45Z" },
        Case { name: "every 11 seconds", spec: "@every 11s", want: "2026-01-05T10:30:39Z" },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        let start = Instant::now();
        let got = schedule.latest_between(anchor, now, NEW_YORK);
        assert!(start.elapsed() < Duration::from_secs(1), "{}: took {:?}", case.name, start.elapsed());
        assert_eq!(got, Some(at(case.want)), "{}: latest_between", case.name);
    }
}

/// `latest_between` agrees with walking `next_after`, every 7 minutes across DST changes.
#[test]
fn latest_between_agrees_with_next_after() {
    let specs = ["* * * * *", "*/15 2 * * *", "0,30 1-3 * * *", "30 1 * * *", "0 * * * *", "7 2 8 3 *"];
    let windows = [
        (NEW_YORK, "2026-03-07T00:00:00Z", "2026-03-09T12:00:00Z"),
        (NEW_YORK, "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z"),
        (BERLIN, "2026-10-24T00:00:00Z", "2026-10-26T12:00:00Z"),
        (Tz::Australia__Lord_Howe, "2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z"),
        (Tz::Pacific__Apia, "2011-12-28T00:00:00Z", "2012-01-01T00:00:00Z"),
    ];
    for spec in specs {
        let schedule = parse(spec, spec);
        for (tz, from, to) in windows {
            let (anchor, end) = (at(from), at(to));
            let mut fired = Vec::new();
            let mut t = anchor;
            while let Some(next) = schedule.next_after(t, tz)
                && next <= end
            {
                assert!(
                    fired.last().is_none_or(|last| *last < next),
                    "{spec} in {tz}: not increasing at {next}"
                );
                fired.push(next);
                t = next;
            }
            let mut now = anchor;
            while now <= end {
                let want = fired.iter().rev().find(|t| **t <= now).copied();
                assert_eq!(
                    schedule.latest_between(anchor, now, tz),
                    want,
                    "{spec} in {tz}: latest up to {now}"
                );
                now += TimeDelta::minutes(7);
            }
        }
    }
}

#[test]
fn times_between() {
    struct Case {
        name: &'static str,
        spec: &'static str,
        tz: Tz,
        anchor: &'static str,
        now: &'static str,
        limit: usize,
        want: &'static [&'static str],
        count: u64,
    }
    let cases = [
        Case {
            name: "every minute over 3 minutes",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-05T10:00:00Z",
            now: "2026-01-05T10:03:00Z",
            limit: 10,
            want: &["2026-01-05T10:01:00Z", "2026-01-05T10:02:00Z", "2026-01-05T10:03:00Z"],
            count: 3,
        },
        Case {
            name: "limit keeps the earliest",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-05T10:00:00Z",
            now: "2026-01-05T10:03:00Z",
            limit: 2,
            want: &["2026-01-05T10:01:00Z", "2026-01-05T10:02:00Z"],
            count: 3,
        },
        Case {
            name: "nothing in the interval",
            spec: "0 * * * *",
            tz: UTC,
            anchor: "2026-01-05T10:00:00Z",
            now: "2026-01-05T10:59:00Z",
            limit: 10,
            want: &[],
            count: 0,
        },
        Case {
            name: "now before anchor",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-05T10:00:00Z",
            now: "2026-01-05T09:00:00Z",
            limit: 10,
            want: &[],
            count: 0,
        },
        Case {
            name: "irregular, exact",
            spec: "0 0 1,2 * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-03-01T12:00:00Z",
            limit: 10,
            want: &[
                "2026-01-02T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-02-02T00:00:00Z",
                "2026-03-01T00:00:00Z",
            ],
            count: 4,
        },
        Case {
            name: "DST gap fires once",
            spec: "*/15 2 * * *",
            tz: NEW_YORK,
            anchor: "2026-03-07T12:00:00Z",
            now: "2026-03-09T12:00:00Z",
            limit: 10,
            want: &[
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:00:00Z",
                "2026-03-09T06:15:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-09T06:45:00Z",
            ],
            count: 5,
        },
        Case {
            name: "exact count up to 10 000",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-01-07T22:40:00Z",
            limit: 1,
            want: &["2026-01-01T00:01:00Z"],
            count: 10_000,
        },
        Case {
            name: "huge interval: Kubernetes' estimate",
            spec: "* * * * *",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2026-01-31T00:00:30Z",
            limit: 2,
            want: &["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"],
            count: 30 * 1440,
        },
        Case {
            name: "huge irregular interval: the estimate is not below what was walked",
            spec: "0 0 1,2 * *",
            tz: UTC,
            anchor: "2000-01-01T00:00:00Z",
            now: "2500-01-01T00:00:00Z",
            limit: 1,
            want: &["2000-01-02T00:00:00Z"],
            count: 10_001,
        },
        Case {
            name: "@every, exact arithmetic",
            spec: "@every 2s",
            tz: UTC,
            anchor: "2026-01-05T10:00:00Z",
            now: "2026-01-05T10:00:07Z",
            limit: 10,
            want: &["2026-01-05T10:00:02Z", "2026-01-05T10:00:04Z", "2026-01-05T10:00:06Z"],
            count: 3,
        },
        Case {
            name: "@every 1s over ten years",
            spec: "@every 1s",
            tz: UTC,
            anchor: "2026-01-01T00:00:00Z",
            now: "2036-01-01T00:00:00Z",
            limit: 2,
            want: &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"],
            count: 315_532_800,
        },
    ];
    for case in cases {
        let schedule = parse(case.name, case.spec);
        let (times, count) = schedule.times_between(at(case.anchor), at(case.now), case.tz, case.limit);
        let want: Vec<_> = case.want.iter().map(|w| at(w)).collect();
        assert_eq!(times, want, "{}: times", case.name);
        assert_eq!(count, case.count, "{}: count", case.name);
    }
}

/// The `next_after` chain equals a brute-force reference that walks UTC minutes: a matching wall time
/// fires when the zone first shows it, and matching wall times skipped by a gap fire when it ends.
#[test]
fn next_after_matches_brute_force_across_transitions() {
    use chrono::{NaiveDateTime, Timelike};

    type Matches = fn(NaiveDateTime) -> bool;
    let specs: [(&str, Matches); 7] = [
        ("* * * * *", |_| true),
        ("*/15 2 * * *", |w| w.hour() == 2 && w.minute() % 15 == 0),
        ("0,30 1-3 * * *", |w| (1..=3).contains(&w.hour()) && w.minute() % 30 == 0),
        ("30 1 * * *", |w| w.hour() == 1 && w.minute() == 30),
        ("45 2 * * *", |w| w.hour() == 2 && w.minute() == 45),
        ("0 * * * *", |w| w.minute() == 0),
        ("*/10 0-12 * * *", |w| w.hour() <= 12 && w.minute() % 10 == 0),
    ];
    let windows = [
        (NEW_YORK, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
        (NEW_YORK, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
        (BERLIN, "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z"),
        (BERLIN, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
        // 30-minute DST.
        (Tz::Australia__Lord_Howe, "2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z"),
        (Tz::Australia__Lord_Howe, "2026-10-03T00:00:00Z", "2026-10-05T00:00:00Z"),
        // +12:45 / +13:45.
        (Tz::Pacific__Chatham, "2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z"),
        (Tz::Pacific__Chatham, "2026-09-25T00:00:00Z", "2026-09-28T00:00:00Z"),
        (Tz::America__St_Johns, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
        // Samoa skipped 2011-12-30 entirely.
        (Tz::Pacific__Apia, "2011-12-28T00:00:00Z", "2012-01-01T00:00:00Z"),
    ];
    for (spec, matches) in specs {
        let schedule = parse(spec, spec);
        for (tz, from, to) in windows {
            let (start, end) = (at(from), at(to));
            let local = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
            let mut want = Vec::new();
            let mut shown = local(start);
            let mut t = start + TimeDelta::minutes(1);
            while t <= end {
                let w = local(t);
                let mut skipped = shown + TimeDelta::minutes(1);
                let gap_fires = w > shown + TimeDelta::minutes(1)
                    && std::iter::from_fn(|| {
                        let s = skipped;
                        skipped += TimeDelta::minutes(1);
                        (s < w).then_some(s)
                    })
                    .any(matches);
                if gap_fires || (w > shown && matches(w)) {
                    want.push(t);
                }
                shown = shown.max(w);
                t += TimeDelta::minutes(1);
            }
            let mut got = Vec::new();
            let mut after = start;
            while let Some(next) = schedule.next_after(after, tz)
                && next <= end
            {
                got.push(next);
                after = next;
            }
            assert_eq!(got, want, "{spec} in {tz} from {from}");
        }
    }
}
