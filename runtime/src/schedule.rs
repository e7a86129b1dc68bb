//! Cron and rate parsing, and next run times of scheduled actions (S2, SPEC §3 and §6).
//!
//! Owns the grammar of an action's `interval`: a 5-field cron expression in UTC
//! (`minute hour day-of-month month day-of-week`) or a rate (`N minute(s)|hour(s)|day(s)`),
//! and the computation of the next run. Everything here is a pure function: no clock reads,
//! no I/O, no knowledge of manifests, tasks or Wasmtime. The caller passes the times in.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};

/// When an action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// A 5-field cron expression, evaluated in UTC.
    Cron(Cron),
    /// Every `every` units, counted from the runtime's start rounded up to a whole unit.
    Rate { every: u32, unit: RateUnit },
}

/// The unit of a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    fn seconds(self) -> i64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3_600,
            RateUnit::Day => 86_400,
        }
    }
}

/// A parsed cron expression: one bit per allowed value of each field.
///
/// Day-of-month and day-of-week are never both restricted (the parser rejects that), so a day
/// matches when both sets contain it: the unrestricted one contains every day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64, // bits 0..=59
    hours: u32,   // bits 0..=23
    days: u32,    // bits 1..=31
    months: u16,  // bits 1..=12
    weekdays: u8, // bits 0..=6, 0 = Sunday
}

/// A parse error with the byte offset, inside the parsed text, of the offending token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScheduleError {
    pub(crate) message: String,
    pub(crate) offset: usize,
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError {
        message: message.into(),
        offset,
    })
}

impl Schedule {
    /// Parses a cron expression or a rate; the error says what is wrong, e.g.
    /// `minute 61 out of range 0-59`.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        Self::parse_located(s).map_err(|e| e.message)
    }

    /// Like [`Schedule::parse`], but the error also carries the byte offset of the bad token.
    pub(crate) fn parse_located(s: &str) -> Result<Schedule, ScheduleError> {
        let tokens = tokens(s);
        match tokens.len() {
            0 => fail(
                0,
                "interval is empty; expected a 5-field cron or a rate like \"5 minutes\"",
            ),
            2 => parse_rate(&tokens),
            5 => parse_cron(&tokens).map(Schedule::Cron),
            6 => fail(
                tokens[5].0,
                "cron has 6 fields; seconds are not supported, use exactly 5 fields \
                 (minute hour day-of-month month day-of-week)",
            ),
            n => fail(
                0,
                format!(
                    "expected a 5-field cron (minute hour day-of-month month day-of-week) \
                     or a rate like \"5 minutes\", found {n} fields"
                ),
            ),
        }
    }

    /// The first run strictly after `after`.
    ///
    /// For a cron, `start` is ignored. For a rate, the runs are `first`, `first + N units`,
    /// `first + 2N units`… where `first` is `start` rounded **up** to a whole unit (minute,
    /// hour, or 00:00 UTC for days): a `start` with any seconds or nanoseconds past the
    /// boundary moves to the next boundary (10:00:30 → 10:01:00 for minutes, → 11:00:00 for
    /// hours), and a `start` exactly on a boundary stays as it is (10:00:00 → 10:00:00).
    /// Since the result is strictly after `after`, `next_after(start, start)` never returns
    /// `start` itself; a caller wanting a run at an on-boundary start can ask with
    /// `after = start - 1ns`.
    pub fn next_after(&self, start: DateTime<Utc>, after: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Schedule::Cron(cron) => cron.next_after(after),
            Schedule::Rate { every, unit } => rate_next_after(*every, *unit, start, after),
        }
    }
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(s: &str) -> Vec<(usize, &str)> {
    let base = s.as_ptr().addr();
    s.split_whitespace()
        .map(|t| (t.as_ptr().addr() - base, t))
        .collect()
}

fn parse_rate(tokens: &[(usize, &str)]) -> Result<Schedule, ScheduleError> {
    let (n_at, n_text) = tokens[0];
    let (unit_at, unit_text) = tokens[1];
    if !n_text.bytes().all(|b| b.is_ascii_digit()) {
        return fail(
            n_at,
            format!("rate count `{n_text}` is not a whole number; write a rate like \"5 minutes\""),
        );
    }
    let every: u32 = match n_text.parse() {
        Ok(n) => n,
        Err(_) => return fail(n_at, format!("rate count {n_text} is too large")),
    };
    if every == 0 {
        return fail(n_at, "rate count must be at least 1");
    }
    let singular = unit_text.strip_suffix('s').unwrap_or(unit_text);
    let plural = singular.len() < unit_text.len();
    let unit = match singular {
        "minute" => RateUnit::Minute,
        "hour" => RateUnit::Hour,
        "day" => RateUnit::Day,
        _ => {
            let msg = format!("unknown rate unit `{unit_text}`; use minute(s), hour(s) or day(s)");
            return fail(unit_at, msg);
        }
    };
    if every == 1 && plural {
        return fail(
            unit_at,
            format!("write \"1 {singular}\", not \"1 {unit_text}\""),
        );
    }
    if every != 1 && !plural {
        return fail(
            unit_at,
            format!("write \"{every} {singular}s\", not \"{every} {unit_text}\""),
        );
    }
    Ok(Schedule::Rate { every, unit })
}

fn rate_next_after(
    every: u32,
    unit: RateUnit,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> DateTime<Utc> {
    let unit_s = unit.seconds();
    let secs = start.timestamp();
    let rem = secs.rem_euclid(unit_s);
    let first_s = if rem == 0 && start.timestamp_subsec_nanos() == 0 {
        secs
    } else {
        secs - rem + unit_s
    };
    let Some(first) = DateTime::from_timestamp(first_s, 0) else {
        return DateTime::<Utc>::MAX_UTC;
    };
    if after < first {
        return first;
    }
    let period = i64::from(every) * unit_s;
    // `after >= first`, so the difference is non-negative and truncation is a floor.
    let k = (after - first).num_seconds() / period + 1;
    k.checked_mul(period)
        .and_then(|d| first.checked_add_signed(TimeDelta::seconds(d)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// One cron field's grammar.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_from: u32,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const fn field(name: &'static str, min: u32, max: u32, names: &'static [&'static str]) -> Field {
    // Months are named from 1 (jan), weekdays from 0 (sun).
    let names_from = if max == 12 { 1 } else { 0 };
    Field {
        name,
        min,
        max,
        names,
        names_from,
    }
}

const FIELDS: [Field; 5] = [
    field("minute", 0, 59, &[]),
    field("hour", 0, 23, &[]),
    field("day-of-month", 1, 31, &[]),
    field("month", 1, 12, MONTHS),
    field("day-of-week", 0, 7, WEEKDAYS),
];
const DOW: usize = 4;

fn parse_cron(tokens: &[(usize, &str)]) -> Result<Cron, ScheduleError> {
    let mut masks = [0u64; 5];
    for (i, field) in FIELDS.iter().enumerate() {
        let (at, text) = tokens[i];
        masks[i] = parse_field(field, i == DOW, at, text)?;
    }
    let (dom_at, dom_text) = tokens[2];
    let (dow_at, dow_text) = tokens[DOW];
    if dom_text != "*" && dow_text != "*" {
        return fail(
            dow_at,
            format!(
                "day-of-month `{dom_text}` and day-of-week `{dow_text}` cannot both be \
                 restricted; set one of them to `*`"
            ),
        );
    }
    // 7 is Sunday, like 0.
    let mut weekdays = masks[DOW] as u8;
    if weekdays & 0x80 != 0 {
        weekdays = (weekdays & 0x7f) | 1;
    }
    let cron = Cron {
        minutes: masks[0],
        hours: masks[1] as u32,
        days: masks[2] as u32,
        months: masks[3] as u16,
        weekdays,
    };
    let possible = (1..=12u32).any(|m| {
        let longest = match m {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        cron.months & (1 << m) != 0 && (1..=longest).any(|d| cron.days & (1 << d) != 0)
    });
    if !possible {
        return fail(
            dom_at,
            format!(
                "day-of-month `{dom_text}` never occurs in the selected months; \
                 the schedule would never run"
            ),
        );
    }
    Ok(cron)
}

fn parse_field(field: &Field, is_dow: bool, at: usize, text: &str) -> Result<u64, ScheduleError> {
    let name = field.name;
    let mut mask = 0u64;
    let mut item_at = at;
    for item in text.split(',') {
        let here = item_at;
        item_at += item.len() + 1;
        if item.is_empty() {
            return fail(here, format!("empty list item in {name} `{text}`"));
        }
        if let Some(bad) = item
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "*-/".contains(*c)))
        {
            return fail(
                here,
                format!("unsupported character `{bad}` in {name} `{text}`"),
            );
        }
        let (range, step) = match item.split_once('/') {
            None => (item, None),
            Some(_) if is_dow => {
                return fail(
                    here,
                    format!("`/` is not allowed in day-of-week (`{item}`)"),
                );
            }
            Some((range, step)) => {
                let step_at = here + range.len() + 1;
                if !step.bytes().all(|b| b.is_ascii_digit()) || step.is_empty() {
                    return fail(step_at, format!("invalid step `{step}` in {name} `{item}`"));
                }
                match step.parse::<u32>() {
                    Ok(0) => {
                        return fail(
                            step_at,
                            format!("step in {name} `{item}` must be at least 1"),
                        );
                    }
                    Ok(n) => (range, Some(n)),
                    Err(_) => {
                        return fail(step_at, format!("step `{step}` in {name} is too large"));
                    }
                }
            }
        };
        let (lo, hi) = if range == "*" {
            (field.min, if is_dow { 6 } else { field.max })
        } else if let Some((a, b)) = range.split_once('-') {
            let lo = value(field, here, a)?;
            let hi = value(field, here + a.len() + 1, b)?;
            if lo > hi {
                return fail(
                    here,
                    format!("{name} range `{range}` goes backwards; the low end must come first"),
                );
            }
            (lo, hi)
        } else {
            let v = value(field, here, range)?;
            // `0/15` means from 0 to the field's end in steps of 15.
            (v, if step.is_some() { field.max } else { v })
        };
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            mask |= 1 << v;
        }
    }
    Ok(mask)
}

fn value(field: &Field, at: usize, text: &str) -> Result<u32, ScheduleError> {
    let name = field.name;
    if text.is_empty() {
        return fail(at, format!("missing value in {name} range"));
    }
    let v = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().unwrap_or(u32::MAX)
    } else if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        i as u32 + field.names_from
    } else if field.names.is_empty() {
        return fail(
            at,
            format!(
                "invalid {name} `{text}`; expected a number {}-{}",
                field.min, field.max
            ),
        );
    } else {
        let (first, last) = (field.names[0], field.names[field.names.len() - 1]);
        return fail(
            at,
            format!(
                "invalid {name} `{text}`; expected {}-{} or {first}-{last}",
                field.min, field.max
            ),
        );
    };
    if v < field.min || v > field.max {
        return fail(
            at,
            format!("{name} {text} out of range {}-{}", field.min, field.max),
        );
    }
    Ok(v)
}

impl Cron {
    fn matches_day(&self, d: NaiveDate) -> bool {
        self.months & (1 << d.month()) != 0
            && self.days & (1 << d.day()) != 0
            && self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0
    }

    /// The first matching minute strictly after `after`.
    fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let after = after.naive_utc();
        let Some(minute) = after.with_second(0).and_then(|t| t.with_nanosecond(0)) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        let Some(mut t) = minute.checked_add_signed(TimeDelta::minutes(1)) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        // Every parsed cron runs at least once in any 8 years (Feb 29 may skip 2100); the
        // bound is only a guard against looping forever.
        for _ in 0..200_000 {
            let day = t.date();
            let next = if self.months & (1 << day.month()) == 0 {
                first_of_next_month(day).and_then(|d| d.and_hms_opt(0, 0, 0))
            } else if !self.matches_day(day) {
                day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0))
            } else if self.hours & (1 << t.hour()) == 0 {
                hour_start(t).and_then(|h| h.checked_add_signed(TimeDelta::hours(1)))
            } else if self.minutes & (1 << t.minute()) == 0 {
                t.checked_add_signed(TimeDelta::minutes(1))
            } else {
                return t.and_utc();
            };
            match next {
                Some(n) => t = n,
                None => break,
            }
        }
        DateTime::<Utc>::MAX_UTC
    }
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

fn hour_start(t: NaiveDateTime) -> Option<NaiveDateTime> {
    t.date().and_hms_opt(t.hour(), 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        let t = DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        t.with_timezone(&Utc)
    }

    /// Rows of `a | b | c` cells, blank lines skipped.
    fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
        let lines = table.lines().filter(|l| !l.trim().is_empty());
        lines.map(|l| l.split('|').map(str::trim).collect())
    }

    const NEXT_FIRE: &str = "
        * * * * *        | 2024-03-01T10:00:00Z     | 2024-03-01T10:01:00Z
        * * * * *        | 2024-03-01T10:00:59.999Z | 2024-03-01T10:01:00Z
        0/15 * * * *     | 2024-03-01T10:00:00Z     | 2024-03-01T10:15:00Z
        0/15 * * * *     | 2024-03-01T10:50:00Z     | 2024-03-01T11:00:00Z
        */5 * * * *      | 2024-03-01T10:07:10Z     | 2024-03-01T10:10:00Z
        1-30/2 * * * *   | 2024-03-01T10:30:00Z     | 2024-03-01T11:01:00Z
        5,10,50 * * * *  | 2024-03-01T10:10:00Z     | 2024-03-01T10:50:00Z
        0 0 31 * *       | 2024-04-01T00:00:00Z     | 2024-05-31T00:00:00Z
        0 0 30 * *       | 2024-01-30T00:00:00Z     | 2024-03-30T00:00:00Z
        0 0 15 * *       | 2024-01-20T00:00:00Z     | 2024-02-15T00:00:00Z
        0 0 29 feb *     | 2024-03-01T00:00:00Z     | 2028-02-29T00:00:00Z
        0 0 29 2 *       | 2023-01-01T00:00:00Z     | 2024-02-29T00:00:00Z
        0 0 29 2 *       | 2096-03-01T00:00:00Z     | 2104-02-29T00:00:00Z
        0 12 * * 7       | 2024-03-01T00:00:00Z     | 2024-03-03T12:00:00Z
        0 12 * * 0       | 2024-03-01T00:00:00Z     | 2024-03-03T12:00:00Z
        0 12 * * sun     | 2024-03-01T00:00:00Z     | 2024-03-03T12:00:00Z
        0 9 * * MON-fri  | 2024-03-01T09:00:00Z     | 2024-03-04T09:00:00Z
        0 9 * * 5-7      | 2024-03-02T10:00:00Z     | 2024-03-03T09:00:00Z
        0 0 * * 3        | 2024-02-28T00:00:00Z     | 2024-03-06T00:00:00Z
        30 23 * dec *    | 2024-03-01T00:00:00Z     | 2024-12-01T23:30:00Z
        0 0 1 jan,Jul *  | 2024-01-01T00:00:00Z     | 2024-07-01T00:00:00Z
        0 0 1 * *        | 2024-12-31T23:59:00Z     | 2025-01-01T00:00:00Z
        59 23 31 12 *    | 2024-12-31T23:59:00Z     | 2025-12-31T23:59:00Z
    ";

    #[test]
    fn cron_next_fire_table() {
        for row in rows(NEXT_FIRE) {
            let (expr, after, want) = (row[0], row[1], row[2]);
            let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let got = s.next_after(at("2000-01-01T00:00:00Z"), at(after));
            assert_eq!(got, at(want), "{expr} after {after}");
        }
    }

    fn runs(expr: &str, after: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut t = at(after);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(at("2000-01-01T00:00:00Z"), t);
            out.push(t.format("%m-%dT%H:%M").to_string());
        }
        out
    }

    #[test]
    fn cron_sequences() {
        let got = runs("0/20 8-9 * * *", "2024-03-01T07:00:00Z", 7);
        let want =
            ["08:00", "08:20", "08:40", "09:00", "09:20", "09:40"].map(|t| format!("03-01T{t}"));
        assert_eq!(got[..6], want);
        assert_eq!(got[6], "03-02T08:00");
        let got = runs("0 0 31 * *", "2024-01-01T00:00:00Z", 4);
        assert_eq!(
            got,
            ["01-31T00:00", "03-31T00:00", "05-31T00:00", "07-31T00:00"]
        );
        let got = runs("0 0 29 * *", "2023-01-30T00:00:00Z", 2);
        assert_eq!(got, ["03-29T00:00", "04-29T00:00"]);
    }

    #[test]
    fn rate_rounds_start_up() {
        let rate = |s: &str| Schedule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let s = rate("1 minute");
        let start = at("2024-03-01T10:00:30Z");
        assert_eq!(s.next_after(start, start), at("2024-03-01T10:01:00Z"));
        assert_eq!(
            s.next_after(start, at("2024-03-01T10:01:00Z")),
            at("2024-03-01T10:02:00Z")
        );

        let s = rate("1 hour");
        let start = at("2024-03-01T10:00:00Z");
        // On the boundary the first run is `start` itself, so strictly after it comes 11:00.
        assert_eq!(s.next_after(start, start), at("2024-03-01T11:00:00Z"));
        let just_before = start - TimeDelta::nanoseconds(1);
        assert_eq!(s.next_after(start, just_before), start);
        let start = at("2024-03-01T10:00:00.5Z");
        assert_eq!(s.next_after(start, start), at("2024-03-01T11:00:00Z"));
        assert_eq!(
            s.next_after(start, at("2020-01-01T00:00:00Z")),
            at("2024-03-01T11:00:00Z")
        );

        let s = rate("5 minutes");
        let start = at("2024-03-01T10:02:30Z");
        assert_eq!(s.next_after(start, start), at("2024-03-01T10:03:00Z"));
        assert_eq!(
            s.next_after(start, at("2024-03-01T10:03:00Z")),
            at("2024-03-01T10:08:00Z")
        );
        assert_eq!(
            s.next_after(start, at("2024-03-01T11:07:59Z")),
            at("2024-03-01T11:08:00Z")
        );

        let s = rate("2 days");
        let start = at("2024-02-28T13:00:00Z");
        assert_eq!(s.next_after(start, start), at("2024-02-29T00:00:00Z"));
        assert_eq!(
            s.next_after(start, at("2024-02-29T00:00:00Z")),
            at("2024-03-02T00:00:00Z")
        );
        let s = rate("1 day");
        assert_eq!(
            s.next_after(start, at("2024-02-27T00:00:00Z")),
            at("2024-02-29T00:00:00Z")
        );
    }

    #[test]
    fn rates_parse() {
        let ok = [
            ("1 minute", 1, RateUnit::Minute),
            ("5 minutes", 5, RateUnit::Minute),
            ("1 hour", 1, RateUnit::Hour),
            ("2 hours", 2, RateUnit::Hour),
            ("1 day", 1, RateUnit::Day),
            (" 30  days ", 30, RateUnit::Day),
        ];
        for (text, every, unit) in ok {
            assert_eq!(
                Schedule::parse(text),
                Ok(Schedule::Rate { every, unit }),
                "{text}"
            );
        }
    }

    const INVALID: &str = "
                         | interval is empty
        1 minutes        | write \"1 minute\", not \"1 minutes\"
        2 hour           | write \"2 hours\", not \"2 hour\"
        0 minutes        | rate count must be at least 1
        -1 minutes       | not a whole number
        1.5 hours        | not a whole number
        5 weeks          | unknown rate unit `weeks`
        5 Minutes        | unknown rate unit `Minutes`
        99999999999 days | too large
        * * * *          | found 4 fields
        0 * * * * *      | seconds are not supported
        @hourly          | found 1 fields
        61 * * * *       | minute 61 out of range 0-59
        * 24 * * *       | hour 24 out of range 0-23
        * * 0 * *        | day-of-month 0 out of range 1-31
        * * 32 * *       | day-of-month 32 out of range 1-31
        * * * 13 *       | month 13 out of range 1-12
        * * * 0 *        | month 0 out of range 1-12
        * * * * 8        | day-of-week 8 out of range 0-7
        * * * foo *      | invalid month `foo`; expected 1-12 or jan-dec
        * * * * fun      | invalid day-of-week `fun`; expected 0-7 or sun-sat
        mon * * * *      | invalid minute `mon`; expected a number 0-59
        * * * * */2      | `/` is not allowed in day-of-week
        * * * * 1/2      | `/` is not allowed in day-of-week
        */0 * * * *      | step in minute `*/0` must be at least 1
        */x * * * *      | invalid step `x` in minute
        */ * * * *       | invalid step `` in minute
        1/2/3 * * * *    | invalid step `2/3`
        30-10 * * * *    | minute range `30-10` goes backwards
        * * * * fri-mon  | day-of-week range `fri-mon` goes backwards
        1- * * * *       | missing value in minute range
        1,,2 * * * *     | empty list item in minute `1,,2`
        * * 1 * 1        | cannot both be restricted
        * * */2 * mon    | cannot both be restricted
        * * L * *        | invalid day-of-month `L`
        * * 15W * *      | invalid day-of-month `15W`
        * * * * 5#3      | unsupported character `#`
        * * ? * *        | unsupported character `?`
        * * * * 5L       | invalid day-of-week `5L`
        0 0 30 2 *       | never occurs in the selected months
        0 0 31 apr,jun * | never occurs
    ";

    #[test]
    fn invalid_forms_are_rejected() {
        for row in rows(INVALID) {
            let (text, want) = (row[0], row[1].replace("\\\"", "\""));
            match Schedule::parse(text) {
                Ok(s) => panic!("{text:?} parsed as {s:?}"),
                Err(e) => assert!(e.contains(&want), "{text:?}: {e:?} lacks {want:?}"),
            }
        }
    }

    #[test]
    fn errors_carry_offsets() {
        let offset = |s: &str| Schedule::parse_located(s).map(|_| ()).unwrap_err().offset;
        assert_eq!(offset("0 24 * * *"), 2);
        assert_eq!(offset("0 0 1,2,x * *"), 8);
        assert_eq!(offset("*/0 * * * *"), 2);
        assert_eq!(offset("2  hour"), 3);
        assert_eq!(offset("* * 1 * 1"), 8);
    }

    #[test]
    fn valid_crons_parse() {
        for text in [
            "0/15 * * * *",
            "0 0 * * *",
            "*/5 0-23/2 1-31 1-12 *",
            "0 0 * JAN-Dec 0-7",
            "0 0 29 2 *",
            "0 0 31 jan *",
            "0-59 * * * *",
            "  5   4  *  *  sun  ",
        ] {
            assert!(Schedule::parse(text).is_ok(), "{text}");
        }
        let Ok(Schedule::Cron(c)) = Schedule::parse("0 0 * * 7") else {
            panic!("cron")
        };
        assert_eq!(c.weekdays, 1);
    }
}
