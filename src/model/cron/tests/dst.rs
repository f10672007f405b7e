//! Daylight saving: the exact instants around both transitions of 2027 in Europe/Berlin and
//! America/New_York, odd zones (30-minute DST, a skipped day, DST at midnight), and a
//! comparison with a brute-force reference around every transition of several zones.
//!
//! 2027 transitions: Berlin 03-28 01:00Z (02:00 CET → 03:00 CEST) and 10-31 01:00Z (03:00 CEST
//! → 02:00 CET); New York 03-14 07:00Z (02:00 EST → 03:00 EDT) and 11-07 06:00Z (02:00 EDT →
//! 01:00 EST).

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::super::next::reference;
use super::*;

/// Berlin, spring forward: 02:30 does not exist on 03-28; it runs once, at 03:30 CEST.
#[test]
fn berlin_spring_forward_runs_a_skipped_time_shifted_by_the_gap() {
    let berlin = "Europe/Berlin";
    assert_eq!(
        runs_in("30 2 * * *", berlin, "2027-03-26T12:00:00Z", 3),
        [
            "2027-03-27T01:30:00Z", // 02:30 CET
            "2027-03-28T01:30:00Z", // 02:30 skipped: 03:30 CEST
            "2027-03-29T00:30:00Z", // 02:30 CEST
        ]
    );
    // 02:30 and 03:30 both land on 01:30Z that day: one run.
    assert_eq!(
        runs_in("30 2,3 * * *", berlin, "2027-03-28T00:00:00Z", 3),
        [
            "2027-03-28T01:30:00Z",
            "2027-03-29T00:30:00Z",
            "2027-03-29T01:30:00Z"
        ]
    );
    // Every half hour runs on in real time, without a burst or a hole.
    assert_eq!(
        runs_in("*/30 * * * *", berlin, "2027-03-28T00:00:00Z", 4),
        [
            "2027-03-28T00:30:00Z", // 01:30 CET
            "2027-03-28T01:00:00Z", // 03:00 CEST (02:00 skipped lands here too)
            "2027-03-28T01:30:00Z", // 03:30 CEST (and 02:30)
            "2027-03-28T02:00:00Z", // 04:00 CEST
        ]
    );
    // Asked at 03:10 CEST, the skipped 02:30 is still ahead (at 03:30).
    let cron = Cron::parse("30 2 * * *").expect("valid");
    let next = cron.next_after(ms("2027-03-28T01:10:00Z"), &zone(berlin));
    assert_eq!(next.map(show).as_deref(), Some("2027-03-28T01:30:00Z"));
}

/// Berlin, fall back: 02:30 happens twice on 10-31; it runs once, at the first (CEST).
#[test]
fn berlin_fall_back_runs_a_repeated_time_at_its_first_occurrence() {
    let berlin = "Europe/Berlin";
    assert_eq!(
        runs_in("30 2 * * *", berlin, "2027-10-29T12:00:00Z", 3),
        [
            "2027-10-30T00:30:00Z", // 02:30 CEST
            "2027-10-31T00:30:00Z", // 02:30 CEST, the first of two
            "2027-11-01T01:30:00Z", // 02:30 CET
        ]
    );
    // Every 15 minutes: 02:00-02:45 CEST, then nothing in the repeated hour, then 03:00 CET.
    assert_eq!(
        runs_in("*/15 * * * *", berlin, "2027-10-30T23:50:00Z", 7),
        [
            "2027-10-31T00:00:00Z", // 02:00 CEST
            "2027-10-31T00:15:00Z",
            "2027-10-31T00:30:00Z",
            "2027-10-31T00:45:00Z", // 02:45 CEST
            "2027-10-31T02:00:00Z", // 03:00 CET, 75 minutes later
            "2027-10-31T02:15:00Z",
            "2027-10-31T02:30:00Z",
        ]
    );
    assert_eq!(
        runs_in("0 * * * *", berlin, "2027-10-30T22:30:00Z", 4),
        [
            "2027-10-30T23:00:00Z", // 01:00 CEST
            "2027-10-31T00:00:00Z", // 02:00 CEST
            "2027-10-31T02:00:00Z", // 03:00 CET: 02:00 CET does not run again
            "2027-10-31T03:00:00Z",
        ]
    );
    // Asked during the second 02:xx (CET), the repeated times are behind.
    let cron = Cron::parse("30 2 * * *").expect("valid");
    let next = cron.next_after(ms("2027-10-31T01:10:00Z"), &zone(berlin));
    assert_eq!(next.map(show).as_deref(), Some("2027-11-01T01:30:00Z"));
}

/// New York, spring forward: 02:30 does not exist on 03-14; it runs at 03:30 EDT.
#[test]
fn new_york_spring_forward_runs_a_skipped_time_shifted_by_the_gap() {
    let ny = "America/New_York";
    assert_eq!(
        runs_in("30 2 * * *", ny, "2027-03-12T12:00:00Z", 3),
        [
            "2027-03-13T07:30:00Z", // 02:30 EST
            "2027-03-14T07:30:00Z", // 02:30 skipped: 03:30 EDT
            "2027-03-15T06:30:00Z", // 02:30 EDT
        ]
    );
    assert_eq!(
        runs_in("0 * * * *", ny, "2027-03-14T05:30:00Z", 3),
        [
            "2027-03-14T06:00:00Z", // 01:00 EST
            "2027-03-14T07:00:00Z", // 03:00 EDT (02:00 skipped lands here too)
            "2027-03-14T08:00:00Z", // 04:00 EDT
        ]
    );
}

/// New York, fall back: 01:30 happens twice on 11-07 (02:30 only once, in EST).
#[test]
fn new_york_fall_back_runs_a_repeated_time_at_its_first_occurrence() {
    let ny = "America/New_York";
    assert_eq!(
        runs_in("30 1 * * *", ny, "2027-11-05T12:00:00Z", 3),
        [
            "2027-11-06T05:30:00Z", // 01:30 EDT
            "2027-11-07T05:30:00Z", // 01:30 EDT, the first of two
            "2027-11-08T06:30:00Z", // 01:30 EST
        ]
    );
    assert_eq!(
        runs_in("30 2 * * *", ny, "2027-11-05T12:00:00Z", 3),
        [
            "2027-11-06T06:30:00Z", // 02:30 EDT
            "2027-11-07T07:30:00Z", // 02:30 EST: not in the repeated hour
            "2027-11-08T07:30:00Z",
        ]
    );
    assert_eq!(
        runs_in("*/30 * * * *", ny, "2027-11-07T04:45:00Z", 4),
        [
            "2027-11-07T05:00:00Z", // 01:00 EDT
            "2027-11-07T05:30:00Z", // 01:30 EDT
            "2027-11-07T07:00:00Z", // 02:00 EST; 01:00 and 01:30 EST do not run again
            "2027-11-07T07:30:00Z",
        ]
    );
    let cron = Cron::parse("*/30 * * * *").expect("valid");
    let next = cron.next_after(ms("2027-11-07T06:10:00Z"), &zone(ny));
    assert_eq!(next.map(show).as_deref(), Some("2027-11-07T07:00:00Z"));
}

/// Samoa skipped 2011-12-30 entirely (-10 → +14): noon that day lands on noon of the 31st.
#[test]
fn a_skipped_day_runs_once() {
    assert_eq!(
        runs_in("0 12 * * *", "Pacific/Apia", "2011-12-29T00:00:00Z", 3),
        [
            "2011-12-29T22:00:00Z",
            "2011-12-30T22:00:00Z",
            "2011-12-31T22:00:00Z"
        ]
    );
    // Only the 30th asked for: it still runs, at the instant its noon would have been.
    assert_eq!(
        runs_in("0 12 30 12 *", "Pacific/Apia", "2011-12-01T00:00:00Z", 1),
        ["2011-12-30T22:00:00Z"]
    );
}

/// São Paulo began DST at midnight (2018-11-04 00:00 → 01:00): the daily midnight run is at
/// 01:00 that day.
#[test]
fn dst_at_midnight_moves_the_midnight_run() {
    assert_eq!(
        runs_in("0 0 * * *", "America/Sao_Paulo", "2018-11-02T12:00:00Z", 3),
        [
            "2018-11-03T03:00:00Z",
            "2018-11-04T03:00:00Z",
            "2018-11-05T02:00:00Z"
        ]
    );
}

/// Every tick is what the definition says: the set of the instants of all matching wall-clock
/// times (skipped ones shifted forward, repeated ones at their first occurrence), and
/// `next_after` is the least of them after any moment. Checked for the day around every
/// transition of a year in several zones: each minute (and half-way) within 3 hours of the
/// transition, every 7th minute further out.
#[test]
fn next_after_agrees_with_a_brute_force_reference_around_transitions() {
    let zones = [
        ("Europe/Berlin", 2027),
        ("America/New_York", 2027),
        ("Australia/Lord_Howe", 2027), // 30-minute DST
        ("Pacific/Chatham", 2027),     // +12:45 / +13:45
        ("Europe/Dublin", 2027),       // "negative" DST in the database
        ("America/Sao_Paulo", 2018),   // DST at midnight
        ("Pacific/Apia", 2011),        // a skipped day
        ("America/St_Johns", 2027),    // -03:30 / -02:30
    ];
    let exprs = [
        "*/15 * * * *",
        "30 2 * * *",
        "0 * * * *",
        "*/7 1-3 * * *",
        "0,30 2,3 * * *",
        "59 1 * * *",
        "0 0 * * *",
        "45 2 * * SUN",
        "*/20 * 2 * * *",
        "0 30 1 * * *",
        "0 12 * * *",
    ];
    let mut transitions_seen = 0;
    for (name, year) in zones {
        let z = zone(name);
        let start: Timestamp = format!("{year}-01-01T00:00:00Z")
            .parse()
            .expect("an instant");
        let end = start.as_second() + 366 * 86_400;
        for tr in z.tz().following(start) {
            let t = tr.timestamp().as_second();
            if t > end {
                break;
            }
            transitions_seen += 1;
            for expr in exprs {
                check_window(expr, &z, t, 12 * 3_600);
            }
        }
    }
    assert!(transitions_seen >= 15, "{transitions_seen} transitions");
}

/// Compares `next_after` with the reference for `after` within `reach` seconds of the
/// transition `t`.
fn check_window(expr: &str, z: &Zone, t: i64, reach: i64) {
    let (w0, w1) = (t - reach, t + reach);
    let cron = Cron::parse(expr).expect("valid");
    let tz = z.tz();
    // Every matching wall-clock time that could land near the window, mapped to its instant.
    let (l0, l1) = (
        reference::local_at(tz, w0) - 86_400,
        reference::local_at(tz, w1) + 86_400,
    );
    let step = if expr.split_whitespace().count() == 6 {
        1
    } else {
        60
    };
    let ticks: BTreeSet<i64> = (l0.div_euclid(60) * 60..=l1)
        .step_by(step)
        .filter(|&local| reference::matches(&cron, local))
        .map(|local| reference::instant(tz, local))
        .collect();
    let near = |minute: i64| (minute - t).abs() <= 3 * 3_600;
    for minute in (w0.div_euclid(60) * 60..=w1).step_by(60) {
        if !near(minute) && minute % 420 != 0 {
            continue;
        }
        for after_ms in [minute * 1_000, minute * 1_000 + 31_500] {
            let expected = ticks
                .range(after_ms.div_euclid(1_000) + 1..)
                .next()
                .copied();
            let expected = expected.filter(|&t| t < w1 + 43_200).map(|t| t * 1_000);
            let Some(expected) = expected else {
                continue; // beyond what the reference enumerated
            };
            assert_eq!(
                cron.next_after(after_ms, z).map(show),
                Some(show(expected)),
                "{expr} in {} after {}",
                z.name(),
                show(after_ms)
            );
        }
    }
}
