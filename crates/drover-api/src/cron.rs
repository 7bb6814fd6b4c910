//! CronJob schedules: parsing exactly what Kubernetes accepts, and fire times in an IANA zone.
//!
//! # Grammar
//!
//! [`Schedule::parse`] accepts exactly what Kubernetes accepts for `spec.schedule`, i.e. what
//! `github.com/robfig/cron/v3` `ParseStandard` accepts:
//!
//! - five whitespace-separated fields, `minute hour day-of-month month day-of-week`, with the ranges
//!   0–59, 0–23, 1–31, 1–12 (or `JAN`–`DEC`) and 0–6 (or `SUN`–`SAT`, 0 is Sunday, 7 is rejected);
//!   names are case-insensitive;
//! - in every field: `*` and its synonym `?`, values `a`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`
//!   (from `a` to the field's maximum), and comma-separated lists of those;
//! - the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`
//!   (case-sensitive) and `@every <duration>` in Go's `time.ParseDuration` syntax
//!   ([`crate::duration::parse`]). As robfig's `Every`, a duration under one second, zero and
//!   negative ones included, becomes one second, and fractional seconds are truncated (Kubernetes
//!   accepts `@every 0s` and runs it every second). `@reboot` is not accepted.
//!
//! robfig's quirks are kept, because Kubernetes accepts them: empty list elements are ignored
//! (`1,,2` is `1,2`), and anything after `*-` or `?-` in a range is ignored (`*-5` is `*`).
//!
//! Day-of-month and day-of-week are OR-ed (`0 0 1 * 1` fires on the 1st and on every Monday), unless
//! either one is a star (`*` or `?`, without a step above 1), in which case they are AND-ed.
//!
//! # Evaluation
//!
//! Cron fields are matched against the wall clock of the zone, at whole minutes. Drover decides the
//! daylight-saving cases (robfig's behaviour differs):
//!
//! - a wall time skipped by a spring-forward gap fires once, at the first instant after the gap;
//!   every matching wall time in the same gap, and the wall time at the end of the gap itself, collapse
//!   into that one firing;
//! - a wall time repeated by a fall-back fold fires once, at its first (earlier) occurrence.
//!
//! In other words, the fire times are the image of the matching wall times under "earliest instant
//! showing this wall time, or the end of the gap that skipped it"; [`Schedule::next_after`],
//! [`Schedule::latest_between`] and [`Schedule::times_between`] all enumerate that one set.
//!
//! `@every d` is not tied to the wall clock: its fire times are `anchor + k·d`, `k ≥ 1`, with the
//! anchor (truncated to whole seconds) given by the caller.
//!
//! # Why by hand
//!
//! No crate implements robfig's exact grammar (`?`, its error cases, `@every` with Go durations)
//! together with this DST policy, so the parser and the evaluation are written here. Everything is a
//! pure function: `now` is always an argument.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::duration::{self, ParseDurationError};

/// A parsed CronJob schedule. Its `Display` is the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

/// Why a schedule does not parse. The `Display` is the message, modelled on robfig/cron's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule is the empty string.
    #[error("empty spec string")]
    Empty,
    /// The schedule does not have exactly five fields.
    #[error("expected exactly 5 fields, found {found}: {spec:?}")]
    FieldCount {
        /// How many fields there are.
        found: usize,
        /// The whole schedule.
        spec: String,
    },
    /// A `@…` descriptor that is not one of the known ones.
    #[error("unrecognized descriptor: {0}")]
    UnrecognizedDescriptor(String),
    /// The duration of `@every` is not a Go duration.
    #[error("failed to parse duration {spec}: {reason}")]
    Duration {
        /// The whole schedule.
        spec: String,
        /// What is wrong with the duration.
        reason: ParseDurationError,
    },
    /// A value, range end or step that is neither a number nor a known name.
    #[error("failed to parse int from {0}")]
    Int(String),
    /// A negative step.
    #[error("negative number ({value}) not allowed: {expr}")]
    Negative {
        /// The number.
        value: i64,
        /// The expression it is part of.
        expr: String,
    },
    /// More than one `-` in a range.
    #[error("too many hyphens: {0}")]
    TooManyHyphens(String),
    /// More than one `/` in a range.
    #[error("too many slashes: {0}")]
    TooManySlashes(String),
    /// A value below the field's minimum.
    #[error("beginning of range ({start}) below minimum ({min}): {expr}")]
    BelowMinimum {
        /// The value.
        start: u64,
        /// The field's minimum.
        min: u64,
        /// The expression it is part of.
        expr: String,
    },
    /// A value above the field's maximum.
    #[error("end of range ({end}) above maximum ({max}): {expr}")]
    AboveMaximum {
        /// The value.
        end: u64,
        /// The field's maximum.
        max: u64,
        /// The expression it is part of.
        expr: String,
    },
    /// A range whose beginning is after its end.
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    Reversed {
        /// The beginning.
        start: u64,
        /// The end.
        end: u64,
        /// The range.
        expr: String,
    },
    /// A step of zero.
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
}

/// How many fire times [`Schedule::times_between`] walks to count exactly before it estimates.
const EXACT_COUNT_LIMIT: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cron(Fields),
    /// `@every`, in whole seconds (at least 1).
    Every(u64),
}

/// One bit per allowed value, plus [`STAR`] when the field was a star (for the day OR/AND rule).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

const STAR: u64 = 1 << 63;

struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DOM: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
};

impl Schedule {
    /// Parses a schedule; `Err` names the problem.
    pub fn parse(spec: &str) -> Result<Schedule, ScheduleError> {
        if spec.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let kind =
            if spec.starts_with('@') { parse_descriptor(spec)? } else { Kind::Cron(parse_fields(spec)?) };
        Ok(Schedule { text: spec.to_owned(), kind })
    }

    /// `Some(d)` for `@every d` (d already rounded: at least one second, whole seconds), else None.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(secs) => Some(Duration::from_secs(secs)),
            Kind::Cron(_) => None,
        }
    }

    /// The first fire time strictly after `after`.
    ///
    /// For `@every`, `after` is taken as the anchor: the result is `after + d`, `after` truncated to
    /// whole seconds. For a cron schedule, returns None when no fire time exists before the end of the
    /// fifth calendar year after the one `after` falls in, in the zone (robfig's limit), e.g. for
    /// `59 23 31 2 *`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(secs) => every_add(truncate(after), *secs, 1),
            Kind::Cron(fields) => {
                let last_year = local(after, tz).year().checked_add(5)?;
                fields.next_after(after, tz, last_year)
            }
        }
    }

    /// The latest fire time `t` with `anchor < t <= now`, or None if there is none.
    ///
    /// For `@every d` this is `anchor + k·d` with the largest `k >= 1` that fits, computed
    /// arithmetically. For a cron schedule it walks backwards from `now`, field by field, so it is
    /// fast whatever the distance between `anchor` and `now`.
    pub fn latest_between(&self, anchor: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if now <= anchor {
            return None;
        }
        match &self.kind {
            Kind::Every(secs) => {
                let anchor = truncate(anchor);
                let k = every_count(anchor, now, *secs);
                if k == 0 { None } else { every_add(anchor, *secs, k) }
            }
            Kind::Cron(fields) => fields.latest_between(anchor, now, tz),
        }
    }

    /// Up to `limit` fire times in `(anchor, now]`, ascending, the earliest ones, and the total count
    /// of fire times in that interval.
    ///
    /// For `@every` the count is exact (arithmetic). For a cron schedule the count is exact when it is
    /// at most 10 000 (the fire times are walked); above that it is Kubernetes' estimate
    /// `floor((now - t1) / (t2 - t1)) + 1`, `t1` and `t2` the first two fire times after `anchor`,
    /// raised to 10 001 if it is lower (the walk proved there are more than 10 000).
    pub fn times_between(
        &self,
        anchor: DateTime<Utc>,
        now: DateTime<Utc>,
        tz: Tz,
        limit: usize,
    ) -> (Vec<DateTime<Utc>>, u64) {
        if now <= anchor {
            return (Vec::new(), 0);
        }
        match &self.kind {
            Kind::Every(secs) => {
                let anchor = truncate(anchor);
                let count = every_count(anchor, now, *secs);
                let times =
                    (1..=count.min(limit as u64)).map_while(|k| every_add(anchor, *secs, k)).collect();
                (times, count)
            }
            Kind::Cron(fields) => {
                // Wall times up to a year past `now` are enough to find every fire time up to `now`.
                let Some(last_year) = local(now, tz).year().checked_add(1) else {
                    return (Vec::new(), 0);
                };
                let mut times = Vec::new();
                let mut first_two = Vec::with_capacity(2);
                let mut count = 0u64;
                let mut at = anchor;
                while let Some(t) = fields.next_after(at, tz, last_year)
                    && t <= now
                {
                    count += 1;
                    if first_two.len() < 2 {
                        first_two.push(t);
                    }
                    if times.len() < limit {
                        times.push(t);
                    }
                    if count > EXACT_COUNT_LIMIT {
                        let (t1, t2) = (first_two[0], first_two[1]);
                        let estimate = (now - t1).num_seconds() / (t2 - t1).num_seconds() + 1;
                        count = count.max(u64::try_from(estimate).unwrap_or(0));
                        break;
                    }
                    at = t;
                }
                (times, count)
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ---------------------------------------------------------------------------------------------------
// Parsing

fn parse_descriptor(spec: &str) -> Result<Kind, ScheduleError> {
    let equivalent = match spec {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            let Some(text) = spec.strip_prefix("@every ") else {
                return Err(ScheduleError::UnrecognizedDescriptor(spec.to_owned()));
            };
            let nanos = duration::parse(text)
                .map_err(|reason| ScheduleError::Duration { spec: spec.to_owned(), reason })?;
            // robfig's `Every`: under a second (zero and negative included) is one second, and
            // the rest is truncated to whole seconds.
            let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(0).max(1);
            return Ok(Kind::Every(secs));
        }
    };
    Ok(Kind::Cron(parse_fields(equivalent)?))
}

fn parse_fields(spec: &str) -> Result<Fields, ScheduleError> {
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(ScheduleError::FieldCount { found: fields.len(), spec: spec.to_owned() });
    };
    Ok(Fields {
        minute: get_field(minute, &MINUTES)?,
        hour: get_field(hour, &HOURS)?,
        dom: get_field(dom, &DOM)?,
        month: get_field(month, &MONTHS)?,
        dow: get_field(dow, &DOW)?,
    })
}

/// A comma-separated list of ranges. Like robfig (Go's `strings.FieldsFunc`), empty elements are
/// skipped.
fn get_field(field: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    field
        .split(',')
        .filter(|expr| !expr.is_empty())
        .try_fold(0, |bits, expr| Ok(bits | get_range(expr, bounds)?))
}

/// One `*`, `?`, `a`, `a-b`, optionally followed by `/step`; robfig's `getRange`, check for check.
fn get_range(expr: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;

    let (start, mut end, mut extra);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (start, end, extra) = (bounds.min, bounds.max, STAR);
    } else {
        start = parse_int_or_name(low_and_high[0], bounds)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], bounds)?,
            _ => return Err(ScheduleError::TooManyHyphens(expr.to_owned())),
        };
        extra = 0;
    }

    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            // "a/n" means "a-max/n".
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(ScheduleError::TooManySlashes(expr.to_owned())),
    };

    let expr = expr.to_owned();
    if start < bounds.min {
        return Err(ScheduleError::BelowMinimum { start, min: bounds.min, expr });
    }
    if end > bounds.max {
        return Err(ScheduleError::AboveMaximum { end, max: bounds.max, expr });
    }
    if start > end {
        return Err(ScheduleError::Reversed { start, end, expr });
    }
    if step == 0 {
        return Err(ScheduleError::ZeroStep(expr));
    }
    // start <= end <= 59 here.
    let bits = (start..=end).step_by(usize::try_from(step).unwrap_or(usize::MAX)).fold(0, |b, i| b | 1 << i);
    Ok(bits | extra)
}

fn parse_int_or_name(expr: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let lower = expr.to_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some(&(_, value)) => Ok(value),
        None => must_parse_int(expr),
    }
}

/// Go's `strconv.Atoi` (optional sign, decimal digits, fits in 64 bits), then non-negative.
fn must_parse_int(expr: &str) -> Result<u64, ScheduleError> {
    let value: i64 = expr.parse().map_err(|_| ScheduleError::Int(expr.to_owned()))?;
    u64::try_from(value).map_err(|_| ScheduleError::Negative { value, expr: expr.to_owned() })
}

// ---------------------------------------------------------------------------------------------------
// @every

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

/// `anchor + k·secs`, None on overflow.
fn every_add(anchor: DateTime<Utc>, secs: u64, k: u64) -> Option<DateTime<Utc>> {
    let delta = i64::try_from(secs.checked_mul(k)?).ok()?;
    anchor.checked_add_signed(TimeDelta::try_seconds(delta)?)
}

/// How many `anchor + k·secs`, `k >= 1`, are at or before `now` (`anchor` at a whole second).
fn every_count(anchor: DateTime<Utc>, now: DateTime<Utc>, secs: u64) -> u64 {
    // `timestamp` floors to the second, and fire times are at whole seconds.
    let elapsed = now.timestamp().saturating_sub(anchor.timestamp());
    u64::try_from(elapsed).map_or(0, |elapsed| elapsed / secs)
}

// ---------------------------------------------------------------------------------------------------
// Cron evaluation
//
// Wall times are naive local date-times at whole minutes. The fire time of a matching wall time `w`
// is `instant(w)`: its earliest instant, or the end of the gap that skipped it. That map is
// non-decreasing in `w`, so searching wall times in order finds fire times in order. Two facts make
// the searches exact:
// - a wall time `w <= local(t)` has `instant(w) <= t` (the zone showed it, or skipped it, by `t`);
// - a wall time has `instant(w) <= t` if and only if `w <= shown_until(t)`, the latest wall time shown
//   at or before `t`, which is `local(t)` except in the hours after a fall-back.

impl Fields {
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = has(self.dom, date.day());
        let dow = has(self.dow, date.weekday().num_days_from_sunday());
        if self.dom & STAR != 0 || self.dow & STAR != 0 { dom && dow } else { dom || dow }
    }

    /// True when no date ever matches (e.g. `0 0 30 2 *`, or a field that is only commas).
    fn never_fires(&self) -> bool {
        const DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let month_day =
            (1..=12).any(|m| has(self.month, m) && (1..=DAYS[m as usize - 1]).any(|d| has(self.dom, d)));
        let any_dow = self.dow & !STAR != 0;
        let any_month = self.month & !STAR != 0;
        // Every month-day falls on every weekday in some year, Feb 29 included.
        let some_day = if self.dom & STAR != 0 || self.dow & STAR != 0 {
            month_day && any_dow
        } else {
            month_day || (any_dow && any_month)
        };
        self.minute & !STAR == 0 || self.hour & !STAR == 0 || !some_day
    }

    /// The first matching wall time at or after `from`, up to the end of `last_year`.
    fn next_match(&self, from: NaiveDateTime, last_year: i32) -> Option<NaiveDateTime> {
        let (mut date, mut hour, mut minute) = (from.date(), from.hour(), from.minute());
        loop {
            if date.year() > last_year {
                return None;
            }
            if !has(self.month, date.month()) {
                date = first_of_next_month(date)?;
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(date) {
                date = date.succ_opt()?;
                (hour, minute) = (0, 0);
                continue;
            }
            let Some(h) = next_bit(self.hour, hour) else {
                date = date.succ_opt()?;
                (hour, minute) = (0, 0);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 0);
            }
            match next_bit(self.minute, minute) {
                Some(m) => return date.and_hms_opt(hour, m, 0),
                None if hour == 23 => {
                    date = date.succ_opt()?;
                    (hour, minute) = (0, 0);
                }
                None => (hour, minute) = (hour + 1, 0),
            }
        }
    }

    /// The last matching wall time at or before `from`, if it is after `stop`.
    fn prev_match(&self, from: NaiveDateTime, stop: NaiveDateTime) -> Option<NaiveDateTime> {
        let (mut date, mut hour, mut minute) = (from.date(), from.hour(), from.minute());
        loop {
            if date < stop.date() {
                return None;
            }
            if !has(self.month, date.month()) {
                date = date.with_day(1)?.pred_opt()?;
                (hour, minute) = (23, 59);
                continue;
            }
            if !self.day_matches(date) {
                date = date.pred_opt()?;
                (hour, minute) = (23, 59);
                continue;
            }
            let Some(h) = prev_bit(self.hour, hour) else {
                date = date.pred_opt()?;
                (hour, minute) = (23, 59);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 59);
            }
            match prev_bit(self.minute, minute) {
                Some(m) => return date.and_hms_opt(hour, m, 0).filter(|w| *w > stop),
                None if hour == 0 => {
                    date = date.pred_opt()?;
                    (hour, minute) = (23, 59);
                }
                None => (hour, minute) = (hour - 1, 59),
            }
        }
    }

    fn next_after(&self, after: DateTime<Utc>, tz: Tz, last_year: i32) -> Option<DateTime<Utc>> {
        if self.never_fires() {
            return None;
        }
        // Wall times up to local(after) fire at or before `after`; later ones may too, after a
        // fall-back (they fired at their first occurrence), and are skipped.
        let mut from = floor_minute(local(after, tz)).checked_add_signed(TimeDelta::minutes(1))?;
        loop {
            let w = self.next_match(from, last_year)?;
            let t = instant(w, tz)?;
            if t > after {
                return Some(t);
            }
            from = w.checked_add_signed(TimeDelta::minutes(1))?;
        }
    }

    fn latest_between(&self, anchor: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.never_fires() {
            return None;
        }
        // Wall times at or before `stop` fire at or before `anchor`.
        let stop = floor_minute(local(anchor, tz));
        let mut from = floor_minute(shown_until(now, tz));
        loop {
            let w = self.prev_match(from, stop)?;
            let t = instant(w, tz)?;
            // `t <= now` always holds (see above); the loop only guards against odd zone data.
            if t <= now {
                return (t > anchor).then_some(t);
            }
            from = w.checked_sub_signed(TimeDelta::minutes(1))?;
        }
    }
}

fn has(bits: u64, value: u32) -> bool {
    bits & (1 << value) != 0
}

/// The smallest allowed value `>= from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    let rest = (bits & !STAR).checked_shr(from)?;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

/// The largest allowed value `<= from` (`from <= 59`).
fn prev_bit(bits: u64, from: u32) -> Option<u32> {
    let upto = bits & !STAR & (u64::MAX >> (63 - from));
    (upto != 0).then(|| 63 - upto.leading_zeros())
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    match date.month() {
        12 => NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1),
        m => NaiveDate::from_ymd_opt(date.year(), m + 1, 1),
    }
}

fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

fn floor_minute(w: NaiveDateTime) -> NaiveDateTime {
    w.date().and_hms_opt(w.hour(), w.minute(), 0).unwrap_or(w)
}

/// Zone offsets stay within about ±16 h, so a fold or gap never moves local time by more than this.
const MAX_SHIFT_SECS: i64 = 36 * 3600;

/// The fire time of wall time `w`: its only instant, the earlier of two (fall-back), or the first
/// instant after the gap that skipped it (spring-forward).
fn instant(w: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&w) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).to_utc()),
        LocalResult::None => {
            // The first second whose local time is past `w` (local time is below `w` until the gap).
            let past = |s: i64| DateTime::from_timestamp(s, 0).map(|t| local(t, tz) > w);
            let guess = w.and_utc().timestamp();
            let (mut lo, mut hi) = (guess - MAX_SHIFT_SECS, guess + MAX_SHIFT_SECS);
            if past(lo)? || !past(hi)? {
                return None;
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if past(mid)? {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            DateTime::from_timestamp(hi, 0)
        }
    }
}

/// The latest wall time the zone showed at or before `t`: `local(t)`, or, in the hours after a
/// fall-back, the wall time just before the clocks went back.
fn shown_until(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    let offset =
        |s: i64| DateTime::from_timestamp(s, 0).map(|u| (local(u, tz) - u.naive_utc()).num_seconds());
    let mut shown = local(t, tz);
    let (mut later, Some(mut later_offset)) = (t.timestamp(), offset(t.timestamp())) else {
        return shown;
    };
    // Sample hourly back over the longest possible fold; bisect each offset decrease.
    for _ in 0..MAX_SHIFT_SECS / 3600 {
        let earlier = later - 3600;
        let Some(earlier_offset) = offset(earlier) else { break };
        if earlier_offset > later_offset {
            let (mut lo, mut hi) = (earlier, later);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset(mid) == Some(earlier_offset) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if let Some(before) = DateTime::from_timestamp(lo, 0) {
                shown = shown.max(local(before, tz));
            }
        }
        (later, later_offset) = (earlier, earlier_offset);
    }
    shown
}
