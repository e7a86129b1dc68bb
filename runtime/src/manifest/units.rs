//! Sizes and durations as written in `app.toml` (SPEC §3: sizes `B, kB, MB, GB, KiB, MiB,
//! GiB`; durations `ms, s, m, h`). Pure string parsing: no TOML, no I/O.

use std::time::Duration;

/// Splits `"5.5 MB"` into the number's integer digits, fraction digits and the unit.
fn split(s: &str, what: &str, example: &str) -> Result<(u128, u128, u32, String), String> {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..end], t[end..].trim_start());
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if num.is_empty() || int.is_empty() || (num.contains('.') && frac.is_empty()) {
        return Err(format!(
            "invalid {what} \"{s}\"; write a number and a unit, like \"{example}\""
        ));
    }
    if !digits_ok(frac) || frac.len() > 9 {
        return Err(format!("invalid {what} \"{s}\"; use at most 9 decimals"));
    }
    let too_large = || format!("{what} \"{s}\" is too large");
    let int: u128 = int.parse().map_err(|_| too_large())?;
    let frac_n: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| too_large())?
    };
    Ok((int, frac_n, frac.len() as u32, unit.to_string()))
}

/// `int.frac × mult`, rounded to the nearest whole unit.
fn scale(int: u128, frac: u128, frac_digits: u32, mult: u128) -> Option<u128> {
    let den = 10u128.pow(frac_digits);
    let whole = int.checked_mul(mult)?;
    let part = (frac.checked_mul(mult)? + den / 2) / den;
    whole.checked_add(part)
}

/// Parses a size: `B`, `kB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of
/// 1024), with optional decimals (`"5.5MB"` = 5 500 000 bytes, rounded to whole bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (int, frac, digits, unit) = split(s, "size", "512MiB")?;
    let mult: u128 = match unit.as_str() {
        "B" => 1,
        "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "" => {
            return Err(format!(
                "size \"{s}\" has no unit; use B, kB, MB, GB, KiB, MiB or GiB"
            ));
        }
        other => {
            return Err(format!(
                "unknown size unit `{other}` in \"{s}\"; use B, kB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    scale(int, frac, digits, mult)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| format!("size \"{s}\" is too large"))
}

/// Parses a duration: `ms`, `s`, `m` (minutes) or `h`, with optional decimals (`"1.5s"`),
/// rounded to whole nanoseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (int, frac, digits, unit) = split(s, "duration", "20s")?;
    let nanos_per: u128 = match unit.as_str() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(format!("duration \"{s}\" has no unit; use ms, s, m or h")),
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in \"{s}\"; use ms, s, m or h"
            ));
        }
    };
    let nanos = scale(int, frac, digits, nanos_per)
        .ok_or_else(|| format!("duration \"{s}\" is too large"))?;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| format!("duration \"{s}\" is too large"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("0B", 0),
            ("1B", 1),
            ("5.5MB", 5_500_000),
            ("5.5 MB", 5_500_000),
            ("1kB", 1_000),
            ("2GB", 2_000_000_000),
            ("1KiB", 1_024),
            ("512MiB", 512 << 20),
            ("1.5GiB", 3 << 29),
            ("0.1KiB", 102),
            (" 3MiB ", 3 << 20),
            ("16000000000GiB", 16_000_000_000 << 30),
        ];
        for (text, want) in ok {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        let bad = [
            ("", "invalid size"),
            ("MB", "invalid size"),
            ("5", "has no unit"),
            ("5KB", "unknown size unit `KB`"),
            ("5mb", "unknown size unit `mb`"),
            ("-5MB", "invalid size"),
            ("5.MB", "invalid size"),
            (".5MB", "invalid size"),
            ("1.2.3MB", "invalid size"),
            ("1.0000000001MB", "at most 9 decimals"),
            ("99999999999GiB", "too large"),
            ("1e3B", "unknown size unit `e3B`"),
        ];
        for (text, want) in bad {
            let e = parse_size(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("20s", Duration::from_secs(20)),
            ("1.5s", Duration::from_millis(1_500)),
            ("250ms", Duration::from_millis(250)),
            ("0.5ms", Duration::from_micros(500)),
            ("2m", Duration::from_secs(120)),
            ("1.5h", Duration::from_secs(5_400)),
            ("60 s", Duration::from_secs(60)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        let bad = [
            ("20", "has no unit"),
            ("20sec", "unknown duration unit `sec`"),
            ("1d", "unknown duration unit `d`"),
            ("1m30s", "unknown duration unit `m30s`"),
            ("-1s", "invalid duration"),
            ("s", "invalid duration"),
        ];
        for (text, want) in bad {
            let e = parse_duration(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
