//! The cron grammar: fields, lists, ranges, steps, names and macros. Every error names the field
//! and says what is wrong in words an API user can act on; it never echoes more than one item.

use super::{CRON_EXPR_MAX, Cron, DayRule};

/// One field of the expression: its name in error messages, its range, and the names it
/// accepts (`names[i]` stands for `names_from + i`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_from: u32,
    names_hint: &'static str,
    /// Day-of-week only: a range may end with Sunday as 0 (`FRI-SUN`).
    sunday_wraps: bool,
}

const SECOND: Field = Field::numeric("second", 0, 59);
const MINUTE: Field = Field::numeric("minute", 0, 59);
const HOUR: Field = Field::numeric("hour", 0, 23);
const DAY_OF_MONTH: Field = Field::numeric("day-of-month", 1, 31);
const MONTH: Field = Field {
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    names_from: 1,
    names_hint: " or a month name (JAN-DEC)",
    ..Field::numeric("month", 1, 12)
};
/// 0-7: both 0 and 7 are Sunday (7 is folded onto 0 once the field is read).
const DAY_OF_WEEK: Field = Field {
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    names_from: 0,
    names_hint: " or a weekday name (SUN-SAT)",
    sunday_wraps: true,
    ..Field::numeric("day-of-week", 0, 7)
};

const FIELD_COUNT_HINT: &str = "expected 5 fields (minute hour day-of-month month day-of-week), \
                                6 (second first) or a macro such as @daily";

impl Field {
    const fn numeric(name: &'static str, min: u32, max: u32) -> Field {
        Field {
            name,
            min,
            max,
            names: &[],
            names_from: 0,
            names_hint: "",
            sunday_wraps: false,
        }
    }

    /// Reads one whole field (a comma-separated list) into a bit set.
    fn read(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            bits |= self
                .read_item(item)
                .map_err(|e| format!("the {} field: {e}", self.name))?;
        }
        Ok(bits)
    }

    /// One list item: `*`, `n`, `a-b`, each optionally followed by `/step`.
    fn read_item(&self, item: &str) -> Result<u64, String> {
        if item.is_empty() {
            return Err("has an empty list item (two commas in a row, or one at an end)".into());
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(self.read_step(step)?)),
            None => (item, None),
        };
        let (lo, hi) = if base == "*" {
            (self.min, self.max)
        } else if let Some((a, b)) = base.split_once('-') {
            if a.is_empty() || b.is_empty() {
                return Err(format!(
                    "the range {} needs a value on each side of -",
                    clip(base)
                ));
            }
            let (lo, mut hi) = (self.read_value(a)?, self.read_value(b)?);
            // `FRI-SUN` and `5-0` mean Friday to Sunday: a Sunday that ends a weekday range is
            // the 7, not the 0 (0-0 stays Sunday alone).
            if self.sunday_wraps && hi == 0 && lo > 0 {
                hi = 7;
            }
            if lo > hi {
                return Err(format!(
                    "the range {base} goes from high to low; for a range that wraps around, \
                     list both parts: {lo}-{max},{min}-{hi}",
                    base = clip(base),
                    max = self.max,
                    min = self.min,
                ));
            }
            (lo, hi)
        } else {
            let value = self.read_value(base)?;
            // `a/n` runs from `a` to the end of the range; a plain `a` is just `a`.
            (value, if step.is_some() { self.max } else { value })
        };
        let step = step.unwrap_or(1);
        let mut bits = 0u64;
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
        Ok(bits)
    }

    fn read_step(&self, text: &str) -> Result<u32, String> {
        if text.is_empty() {
            return Err("a / must be followed by a step".into());
        }
        match number(text) {
            Some(step) if (1..=self.max).contains(&step) => Ok(step),
            Some(_) => Err(format!(
                "the step /{} is out of range 1-{max}",
                clip(text),
                max = self.max
            )),
            None => Err(format!("the step /{} is not a number", clip(text))),
        }
    }

    fn read_value(&self, text: &str) -> Result<u32, String> {
        if let Some(v) = number(text) {
            return if (self.min..=self.max).contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "{} is out of range {min}-{max}",
                    clip(text),
                    min = self.min,
                    max = self.max
                ))
            };
        }
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            return Ok(self.names_from + i as u32);
        }
        Err(format!(
            "{:?} is not a number{}",
            clip(text),
            if text.is_empty() { "" } else { self.names_hint }
        ))
    }
}

/// A whole number written in ASCII digits only (no sign, no spaces); `None` otherwise. Too many
/// digits read as `u32::MAX`, so the caller reports them out of range rather than "not a number".
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u32::MAX))
}

/// Keeps an echoed piece of user input short.
fn clip(text: &str) -> String {
    const MAX: usize = 16;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The standard macros and what they stand for.
fn expand_macro(name: &str) -> Result<&'static str, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Err(
                "@reboot is not supported: a schedule fires at times, not at start-up".into(),
            );
        }
        _ => {
            return Err(format!(
                "unknown macro {:?}; expected @yearly, @annually, @monthly, @weekly, @daily, \
                 @midnight or @hourly (for a fixed interval, use every_ms)",
                clip(name)
            ));
        }
    })
}

pub(super) fn parse(expr: &str) -> Result<Cron, String> {
    if expr.chars().count() > CRON_EXPR_MAX {
        return Err(format!("is longer than {CRON_EXPR_MAX} characters"));
    }
    let words: Vec<&str> = expr.split_ascii_whitespace().collect();
    let (normalized, fields) = match words.as_slice() {
        [] => return Err(format!("is empty; {FIELD_COUNT_HINT}")),
        [word, rest @ ..] if word.starts_with('@') => {
            let fields = expand_macro(word)?;
            if !rest.is_empty() {
                return Err("a macro stands alone, with no fields after it".into());
            }
            (word.to_ascii_lowercase(), fields.split(' ').collect())
        }
        _ => (words.join(" "), words),
    };
    let (second, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        n => return Err(format!("has {n} fields; {FIELD_COUNT_HINT}")),
    };
    let [minute, hour, dom, month, dow] = rest else {
        return Err(format!("has {} fields; {FIELD_COUNT_HINT}", fields.len()));
    };
    // Read in the written order, so that the first bad field is the one reported.
    let seconds = SECOND.read(second)?;
    let minutes = MINUTE.read(minute)?;
    let hours = HOUR.read(hour)?;
    let days = DAY_OF_MONTH.read(dom)?;
    let months = MONTH.read(month)?;
    let mut weekdays = DAY_OF_WEEK.read(dow)?;
    // Day-of-week 7 is Sunday, like 0: fold it so that the search only knows 0-6.
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays & !(1 << 7)) | 1;
    }
    // Vixie cron decides by the first character, so `*/2` counts as unrestricted; see DayRule.
    let day_rule = if dom.starts_with('*') || dow.starts_with('*') {
        DayRule::Both
    } else {
        DayRule::Either
    };
    Ok(Cron {
        expr: normalized,
        seconds,
        minutes,
        hours,
        days,
        months,
        weekdays,
        day_rule,
    })
}
