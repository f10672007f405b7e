//! [`Zone`]: an IANA time zone, looked up in the database bundled into the binary.

use std::fmt;

use jiff::tz::{TimeZone, TimeZoneDatabase};

use super::TIMEZONE_NAME_MAX;

/// An IANA time zone (`Europe/Berlin`, `America/New_York`, `UTC`). [`Zone::default`] is UTC,
/// the zone of a schedule that names none.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The database's spelling of the name (lookups ignore ASCII case).
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// Looks a zone up by its IANA name, ignoring ASCII case (`europe/berlin` is
    /// `Europe/Berlin`). Fixed offsets (`+01:00`) and POSIX TZ strings are not names and are
    /// refused, as is an unknown name, which the error repeats.
    pub fn parse(name: &str) -> Result<Zone, String> {
        const HINT: &str = "expected an IANA time zone name such as Europe/Berlin or UTC";
        if name.is_empty() {
            return Err(format!("is empty; {HINT}"));
        }
        if name.chars().count() > TIMEZONE_NAME_MAX {
            return Err(format!(
                "is longer than {TIMEZONE_NAME_MAX} characters; {HINT}"
            ));
        }
        // Why the bundled database and not `jiff::tz::db()`: the global one prefers the host's
        // /usr/share/zoneinfo whenever any crate in the build enables jiff's `tzdb-zoneinfo`,
        // and then answers would depend on the machine (see the module header).
        match TimeZoneDatabase::bundled().get(name) {
            // `Etc/Unknown` is jiff's stand-in for "no zone"; it is not a place.
            Ok(tz) if !tz.is_unknown() => Ok(Zone {
                name: tz.iana_name().unwrap_or(name).to_owned(),
                tz,
            }),
            _ => Err(format!("unknown time zone {name:?}; {HINT}")),
        }
    }

    /// The zone's IANA name, as the database spells it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::utc()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
