//! Unit tests of `manifest::interval`.

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
        let s = Interval::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let got = s.next_after(at("2000-01-01T00:00:00Z"), at(after));
        assert_eq!(got, at(want), "{expr} after {after}");
    }
}

fn runs(expr: &str, after: &str, n: usize) -> Vec<String> {
    let s = Interval::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
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
    let want = ["08:00", "08:20", "08:40", "09:00", "09:20", "09:40"].map(|t| format!("03-01T{t}"));
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
    let rate = |s: &str| Interval::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
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
            Interval::parse(text),
            Ok(Interval::Rate { every, unit }),
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
        match Interval::parse(text) {
            Ok(s) => panic!("{text:?} parsed as {s:?}"),
            Err(e) => assert!(e.contains(&want), "{text:?}: {e:?} lacks {want:?}"),
        }
    }
}

#[test]
fn errors_carry_offsets() {
    let offset = |s: &str| Interval::parse_located(s).map(|_| ()).unwrap_err().offset;
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
        assert!(Interval::parse(text).is_ok(), "{text}");
    }
    let Ok(Interval::Cron(c)) = Interval::parse("0 0 * * 7") else {
        panic!("cron")
    };
    assert_eq!(c.weekdays, 1);
}
