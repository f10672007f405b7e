//! Tests of cron expressions and zones: `parse` the grammar and its messages, `utc` the search
//! for the next run where wall-clock time is the instant, `dst` daylight saving (exact
//! instants around transitions, and a brute-force reference).

use jiff::Timestamp;

use super::*;

mod dst;
mod parse;
mod utc;

fn cron(expr: &str) -> Cron {
    Cron::parse(expr).expect("a valid expression")
}

fn zone(name: &str) -> Zone {
    Zone::parse(name).expect("a known zone")
}

fn ms(rfc3339: &str) -> i64 {
    let ts: Timestamp = rfc3339.parse().expect("an RFC 3339 instant");
    ts.as_millisecond()
}

fn show(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .expect("an instant")
        .to_string()
}

/// The next `n` runs of `expr` in the zone `zone_name` after `from`, in UTC.
fn runs_in(expr: &str, zone_name: &str, from: &str, n: usize) -> Vec<String> {
    next_runs(&cron(expr), &zone(zone_name), ms(from), n)
        .into_iter()
        .map(show)
        .collect()
}

/// The next `n` runs in UTC after `from`.
fn runs(expr: &str, from: &str, n: usize) -> Vec<String> {
    runs_in(expr, "UTC", from, n)
}
