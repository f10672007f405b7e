//! The grammar and its error messages.

use super::*;

fn error(expr: &str) -> String {
    Cron::parse(expr).expect_err("an invalid expression")
}

/// The values a field allows, from its bit set.
fn values(bits: u64) -> Vec<u8> {
    (0..64).filter(|v| bits & (1 << v) != 0).collect()
}

/// Errors name the field and the problem in words an API user can act on.
#[test]
fn errors_name_the_field_and_the_problem() {
    for (expr, message) in [
        ("0 24 * * *", "the hour field: 24 is out of range 0-23"),
        ("60 * * * *", "the minute field: 60 is out of range 0-59"),
        ("60 * * * * *", "the second field: 60 is out of range 0-59"),
        (
            "* * 0 * *",
            "the day-of-month field: 0 is out of range 1-31",
        ),
        (
            "* * 32 * *",
            "the day-of-month field: 32 is out of range 1-31",
        ),
        ("* * * 13 *", "the month field: 13 is out of range 1-12"),
        ("* * * * 8", "the day-of-week field: 8 is out of range 0-7"),
        (
            "* * * MON *",
            "the month field: \"MON\" is not a number or a month name (JAN-DEC)",
        ),
        (
            "* * * * JAN",
            "the day-of-week field: \"JAN\" is not a number or a weekday name (SUN-SAT)",
        ),
        ("x * * * *", "the minute field: \"x\" is not a number"),
        ("+5 * * * *", "the minute field: \"+5\" is not a number"),
        ("? * * * *", "the minute field: \"?\" is not a number"),
        (
            "*/0 * * * *",
            "the minute field: the step /0 is out of range 1-59",
        ),
        (
            "* */25 * * *",
            "the hour field: the step /25 is out of range 1-23",
        ),
        (
            "*/x * * * *",
            "the minute field: the step /x is not a number",
        ),
        (
            "5/ * * * *",
            "the minute field: a / must be followed by a step",
        ),
        (
            "* 22-2 * * *",
            "the hour field: the range 22-2 goes from high to low; for a range that wraps \
             around, list both parts: 22-23,0-2",
        ),
        (
            "* * * * 5-",
            "the day-of-week field: the range 5- needs a value on each side of -",
        ),
        (
            "1,,2 * * * *",
            "the minute field: has an empty list item (two commas in a row, or one at an end)",
        ),
        (
            "99999999999999999999 * * * *",
            "the minute field: 9999999999999999… is out of range 0-59",
        ),
    ] {
        assert_eq!(error(expr), message, "{expr}");
    }
}

/// The first bad field in written order is the one reported.
#[test]
fn the_first_bad_field_is_reported() {
    assert!(error("99 99 99 99 99").starts_with("the minute field"));
    assert!(error("0 0 * 99 99").starts_with("the month field"));
}

/// Wrong shapes of the whole expression say what is expected.
#[test]
fn wrong_shapes_say_what_is_expected() {
    let expected = "expected 5 fields (minute hour day-of-month month day-of-week), 6 (second \
                    first) or a macro such as @daily";
    assert_eq!(error(""), format!("is empty; {expected}"));
    assert_eq!(error("   "), format!("is empty; {expected}"));
    assert_eq!(error("* * * *"), format!("has 4 fields; {expected}"));
    assert_eq!(error("* * * * * * *"), format!("has 7 fields; {expected}"));
    assert_eq!(error(&"1,".repeat(200)), "is longer than 256 characters");
    assert_eq!(
        error("@reboot"),
        "@reboot is not supported: a schedule fires at times, not at start-up"
    );
    assert!(error("@every 5m").starts_with("unknown macro \"@every\""));
    assert!(error("@every 5m").ends_with("(for a fixed interval, use every_ms)"));
    assert_eq!(
        error("@daily 5"),
        "a macro stands alone, with no fields after it"
    );
}

/// Numbers, `*`, ranges, steps and lists expand to the values they name.
#[test]
fn lists_ranges_and_steps_expand() {
    assert_eq!(values(cron("*/15 * * * *").minutes), [0, 15, 30, 45]);
    assert_eq!(values(cron("0-30/10 * * * *").minutes), [0, 10, 20, 30]);
    assert_eq!(values(cron("5/20 * * * *").minutes), [5, 25, 45]);
    assert_eq!(
        values(cron("1,5,7-9,58-59 * * * *").minutes),
        [1, 5, 7, 8, 9, 58, 59]
    );
    assert_eq!(values(cron("0 */7 * * *").hours), [0, 7, 14, 21]);
    assert_eq!(values(cron("0 0 */10 * *").days), [1, 11, 21, 31]);
    assert_eq!(values(cron("0 0 * */5 *").months), [1, 6, 11]);
    assert_eq!(values(cron("0 0 * * *").seconds), [0]);
    assert_eq!(values(cron("*/59 0 0 * * *").seconds), [0, 59]);
    assert_eq!(values(cron("0 0 * * *").weekdays), [0, 1, 2, 3, 4, 5, 6]);
}

/// Month and weekday names, in any case; 7 and 0 are both Sunday.
#[test]
fn names_and_sunday_as_seven() {
    let c = cron("0 9 * jan,JUL-Sep mon-FRI");
    assert_eq!(values(c.months), [1, 7, 8, 9]);
    assert_eq!(values(c.weekdays), [1, 2, 3, 4, 5]);
    assert_eq!(values(cron("0 0 * * 7").weekdays), [0]);
    assert_eq!(values(cron("0 0 * * 5-7").weekdays), [0, 5, 6]);
    assert_eq!(values(cron("0 0 * * FRI-SUN").weekdays), [0, 5, 6]);
    assert_eq!(values(cron("0 0 * * 5-0").weekdays), [0, 5, 6]);
    assert_eq!(values(cron("0 0 * * SUN-SUN").weekdays), [0]);
    assert!(error("0 0 * * SAT-MON").contains("goes from high to low"));
    assert_eq!(values(cron("0 0 * * */2").weekdays), [0, 2, 4, 6]);
    // 2027-09-05 is a Sunday; 7 and SUN fire on it.
    for expr in ["0 0 * * 7", "0 0 * * sun", "0 0 * * 0"] {
        assert_eq!(
            runs(expr, "2027-09-01T00:00:00Z", 1),
            ["2027-09-05T00:00:00Z"]
        );
    }
}

/// The macros stand for the usual expressions and are shown back as written, in lower case.
#[test]
fn macros_expand_and_show_back() {
    for (name, fields) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ] {
        let from = "2027-06-15T10:20:00Z";
        assert_eq!(runs(name, from, 3), runs(fields, from, 3), "{name}");
        assert_eq!(cron(&name.to_uppercase()).as_str(), name);
    }
    assert_eq!(
        runs("@weekly", "2027-06-15T10:20:00Z", 1),
        ["2027-06-20T00:00:00Z"]
    );
    assert_eq!(
        runs("@yearly", "2027-06-15T10:20:00Z", 1),
        ["2028-01-01T00:00:00Z"]
    );
}

/// The expression is shown back as given, with its fields separated by single spaces.
#[test]
fn as_str_normalizes_spacing_only() {
    assert_eq!(cron("  */5 \t *  * * Mon ").as_str(), "*/5 * * * Mon");
    assert_eq!(cron("*/5 * * * Mon").to_string(), "*/5 * * * Mon");
}
