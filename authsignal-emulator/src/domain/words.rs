//! Times and durations in words for the hosted pages ("3 minutes ago", "in 25 seconds"): people
//! read these, not ISO timestamps.

use chrono::{DateTime, Utc};

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// How long ago `then` was at `now`: "just now", "5 minutes ago", "yesterday", "3 days ago",
/// then the date ("on 1 December 2026"). A time in the future reads "just now".
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} ago", plural(s / 60, "minute")),
        s if s < 86_400 => format!("{} ago", plural(s / 3600, "hour")),
        s if s < 2 * 86_400 => "yesterday".to_owned(),
        s if s < 30 * 86_400 => format!("{} ago", plural(s / 86_400, "day")),
        _ => format!("on {}", then.format("%-d %B %Y")),
    }
}

/// A duration in words, rounded to the largest whole unit: "45 seconds", "15 minutes", "2 hours".
pub fn duration(secs: i64) -> String {
    let up = |s: i64, unit: i64| (s + unit - 1) / unit;
    match secs.max(0) {
        s if s < 60 => plural(s, "second"),
        s if s < 3600 => plural(up(s, 60), "minute"),
        s if s < 86_400 => plural(up(s, 3600), "hour"),
        s => plural(up(s, 86_400), "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn recent_times_read_as_words_and_old_ones_as_dates() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ago(now - Duration::seconds(5), now), "just now");
        assert_eq!(ago(now + Duration::seconds(5), now), "just now");
        assert_eq!(ago(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(ago(now - Duration::minutes(59), now), "59 minutes ago");
        assert_eq!(ago(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(ago(now - Duration::hours(30), now), "yesterday");
        assert_eq!(ago(now - Duration::days(6), now), "6 days ago");
        assert_eq!(ago(now - Duration::days(90), now), "on 2 September 2026");
    }

    #[test]
    fn durations_round_up_to_whole_units() {
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(25), "25 seconds");
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(61), "2 minutes");
        assert_eq!(duration(900), "15 minutes");
        assert_eq!(duration(7200), "2 hours");
        assert_eq!(duration(-3), "0 seconds");
    }
}
