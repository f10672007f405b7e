//! The search for the next run where wall-clock time is the instant (UTC): seconds, day
//! matching, the calendar, the horizon, extreme inputs; and zone names.

use super::super::next::reference;
use super::*;

/// A sixth field counts seconds, first.
#[test]
fn six_fields_count_seconds_first() {
    assert_eq!(
        runs("*/20 * * * * *", "2027-01-01T00:00:05Z", 4),
        [
            "2027-01-01T00:00:20Z",
            "2027-01-01T00:00:40Z",
            "2027-01-01T00:01:00Z",
            "2027-01-01T00:01:20Z"
        ]
    );
    assert_eq!(
        runs("30 15 10 * * *", "2027-01-01T10:15:30Z", 2),
        ["2027-01-02T10:15:30Z", "2027-01-03T10:15:30Z"]
    );
}

/// "Strictly after": a tick at `after` itself is not returned; milliseconds count.
#[test]
fn next_is_strictly_after() {
    let c = cron("0 * * * *");
    let utc = Zone::utc();
    let on_the_hour = ms("2027-01-01T10:00:00Z");
    assert_eq!(
        show(c.next_after(on_the_hour, &utc).expect("a tick")),
        "2027-01-01T11:00:00Z"
    );
    assert_eq!(
        show(c.next_after(on_the_hour - 1, &utc).expect("a tick")),
        "2027-01-01T10:00:00Z"
    );
    assert_eq!(
        show(c.next_after(on_the_hour + 1, &utc).expect("a tick")),
        "2027-01-01T11:00:00Z"
    );
}

/// Day-of-month and day-of-week widen each other only when neither starts with `*`.
#[test]
fn day_of_month_or_day_of_week_as_vixie_cron() {
    // September 2027: Fridays are the 3rd, 10th, 17th and 24th; the 13th is a Monday.
    let from = "2027-09-01T00:00:00Z";
    assert_eq!(
        runs("0 12 13 * FRI", from, 5),
        [
            "2027-09-03T12:00:00Z",
            "2027-09-10T12:00:00Z",
            "2027-09-13T12:00:00Z",
            "2027-09-17T12:00:00Z",
            "2027-09-24T12:00:00Z"
        ]
    );
    assert_eq!(
        runs("0 12 13 * *", from, 2),
        ["2027-09-13T12:00:00Z", "2027-10-13T12:00:00Z"]
    );
    assert_eq!(
        runs("0 12 * * FRI", from, 2),
        ["2027-09-03T12:00:00Z", "2027-09-10T12:00:00Z"]
    );
    // `*/2` starts with `*`, so it narrows instead: odd-numbered days that are Fridays.
    assert_eq!(
        runs("0 12 */2 * FRI", from, 3),
        [
            "2027-09-03T12:00:00Z",
            "2027-09-17T12:00:00Z",
            "2027-10-01T12:00:00Z"
        ]
    );
    // Likewise when day-of-week starts with `*`: the 13th only when it is an even weekday.
    assert_eq!(cron("0 12 13 * */2").day_rule, DayRule::Both);
    assert_eq!(cron("0 12 13,14 * 1-5").day_rule, DayRule::Either);
}

/// Feb 29 comes only in leap years (2100 is not one); 30 Feb never comes.
#[test]
fn february_29_only_in_leap_years_and_30_never() {
    assert_eq!(
        runs("0 0 29 2 *", "2027-01-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    assert_eq!(
        runs("0 0 29 2 *", "2096-03-01T00:00:00Z", 1),
        ["2104-02-29T00:00:00Z"]
    );
    let utc = Zone::utc();
    for never in [
        "0 0 30 2 *",
        "0 0 31 2 *",
        "0 0 31 4,6,9,11 *",
        "0 0 30,31 feb *",
    ] {
        assert_eq!(
            cron(never).next_after(ms("2027-01-01T00:00:00Z"), &utc),
            None,
            "{never}"
        );
        assert!(next_runs(&cron(never), &utc, 0, 5).is_empty(), "{never}");
    }
    // With a restricted day-of-week, the OR rule makes it fire on February's Mondays.
    assert_eq!(
        runs("0 0 30 2 MON", "2027-01-01T00:00:00Z", 1),
        ["2027-02-01T00:00:00Z"]
    );
}

/// The horizon is a whole calendar cycle, so rare but possible expressions are found: Feb 29
/// on a Sunday waits 28 years, and 40 across 2100.
#[test]
fn rare_expressions_are_found_across_decades() {
    assert_eq!(
        runs("0 0 29 2 */7", "2005-01-01T00:00:00Z", 4),
        [
            "2032-02-29T00:00:00Z",
            "2060-02-29T00:00:00Z",
            "2088-02-29T00:00:00Z",
            "2128-02-29T00:00:00Z"
        ]
    );
}

/// No input makes the search run away or panic: the ends of time, the far past, the horizon.
#[test]
fn extreme_inputs_end_quietly() {
    let utc = Zone::utc();
    let every_second = cron("* * * * * *");
    assert_eq!(every_second.next_after(i64::MAX, &utc), None);
    assert_eq!(every_second.next_after(i64::MIN, &utc), None);
    // jiff's last instant (its civil times end a day later, so every zone fits).
    let last = Timestamp::MAX.as_millisecond();
    assert_eq!(every_second.next_after(last, &utc), None);
    assert_eq!(
        cron("0 0 30 2 *").next_after(ms("9990-01-01T00:00:00Z"), &utc),
        None
    );
    assert_eq!(
        runs("0 0 1 1 *", "1969-12-31T23:59:59.999Z", 1),
        ["1970-01-01T00:00:00Z"]
    );
    let year_minus_100 = reference::days(-100, 6, 1) * 86_400_000;
    let first = cron("0 0 1 1 *").next_after(year_minus_100, &utc);
    assert_eq!(first, Some(reference::days(-99, 1, 1) * 86_400_000));
    assert_eq!(next_runs(&every_second, &utc, 0, 0), Vec::<i64>::new());
}

/// `next_runs` gives n strictly increasing ticks.
#[test]
fn next_runs_are_increasing() {
    let got = next_runs(
        &cron("*/10 * * * *"),
        &Zone::utc(),
        ms("2027-01-01T00:05:00Z"),
        5,
    );
    let shown: Vec<String> = got.iter().map(|&t| show(t)).collect();
    assert_eq!(
        shown,
        [
            "2027-01-01T00:10:00Z",
            "2027-01-01T00:20:00Z",
            "2027-01-01T00:30:00Z",
            "2027-01-01T00:40:00Z",
            "2027-01-01T00:50:00Z"
        ]
    );
}

/// Zones: UTC by default, IANA names in any case, unknown names repeated in the error.
#[test]
fn zones_parse_by_iana_name() {
    assert_eq!(Zone::default().name(), "UTC");
    assert_eq!(Zone::default(), Zone::parse("UTC").expect("UTC"));
    assert_eq!(Zone::parse("utc").expect("utc").name(), "UTC");
    assert_eq!(
        Zone::parse("europe/berlin").expect("Berlin").name(),
        "Europe/Berlin"
    );
    assert_eq!(
        Zone::parse("America/New_York").expect("NY").to_string(),
        "America/New_York"
    );
    assert_eq!(
        Zone::parse("Mars/Olympus_Mons").expect_err("unknown"),
        "unknown time zone \"Mars/Olympus_Mons\"; expected an IANA time zone name such as \
         Europe/Berlin or UTC"
    );
    for bad in [
        "",
        "+01:00",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "Etc/Unknown",
        "Europe/",
    ] {
        assert!(Zone::parse(bad).is_err(), "{bad:?}");
    }
    assert!(
        Zone::parse(&"A".repeat(65))
            .expect_err("long")
            .starts_with("is longer than 64")
    );
    // The default zone computes in UTC.
    let c = cron("0 9 * * *");
    assert_eq!(
        c.next_after(ms("2027-07-01T00:00:00Z"), &Zone::default())
            .map(show),
        Some("2027-07-01T09:00:00Z".to_owned())
    );
}

/// The calendar arithmetic agrees with jiff's over ±2,000 years.
#[test]
fn calendar_arithmetic_agrees_with_jiff() {
    for days in (-730_000..730_000).step_by(97) {
        let (y, m, d) = reference::date(days);
        let date = jiff::civil::Date::new(y as i16, m as i8, d as i8).expect("a valid date");
        let epoch = jiff::civil::date(1970, 1, 1);
        assert_eq!(date.since(epoch).expect("a span").get_days() as i64, days);
        assert_eq!(reference::days(y, m, d), days);
        let sunday_zero = date.weekday().to_sunday_zero_offset();
        assert_eq!(
            i8::try_from(reference::weekday_of(y, m, d)).ok(),
            Some(sunday_zero)
        );
    }
}
