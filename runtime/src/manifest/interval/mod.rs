//! Cron and rate parsing, and next run times of scheduled actions (S2, SPEC §3 and §6).
//!
//! Owns the grammar of an action's `interval`: a 5-field cron expression in UTC
//! (`minute hour day-of-month month day-of-week`) or a rate (`N minute(s)|hour(s)|day(s)`),
//! and the computation of the next run. Everything here is a pure function: no clock reads,
//! no I/O, no knowledge of manifests, tasks or Wasmtime. The caller passes the times in.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};

/// When an action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interval {
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
pub(crate) struct IntervalError {
    pub(crate) message: String,
    pub(crate) offset: usize,
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, IntervalError> {
    Err(IntervalError {
        message: message.into(),
        offset,
    })
}

impl Interval {
    /// Parses a cron expression or a rate; the error says what is wrong, e.g.
    /// `minute 61 out of range 0-59`.
    pub fn parse(s: &str) -> Result<Interval, String> {
        Self::parse_located(s).map_err(|e| e.message)
    }

    /// Like [`Interval::parse`], but the error also carries the byte offset of the bad token.
    pub(crate) fn parse_located(s: &str) -> Result<Interval, IntervalError> {
        let tokens = tokens(s);
        match tokens.len() {
            0 => fail(
                0,
                "interval is empty; expected a 5-field cron or a rate like \"5 minutes\"",
            ),
            2 => parse_rate(&tokens),
            5 => parse_cron(&tokens).map(Interval::Cron),
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
            Interval::Cron(cron) => cron.next_after(after),
            Interval::Rate { every, unit } => rate_next_after(*every, *unit, start, after),
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

fn parse_rate(tokens: &[(usize, &str)]) -> Result<Interval, IntervalError> {
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
    Ok(Interval::Rate { every, unit })
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

fn parse_cron(tokens: &[(usize, &str)]) -> Result<Cron, IntervalError> {
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

fn parse_field(field: &Field, is_dow: bool, at: usize, text: &str) -> Result<u64, IntervalError> {
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

fn value(field: &Field, at: usize, text: &str) -> Result<u32, IntervalError> {
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
mod tests;
