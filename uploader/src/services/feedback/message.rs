//! The words of a version's public status: its age in days, its place in the queue as an
//! ordinal, and the one-sentence message ("Waiting for review for 3 days; 2nd of 7 in the
//! queue. Over the last 30 days, ...").

use chrono::Duration;

use super::{MEDIAN_DAYS, PublicState, PublicStatus};
use catalog::feedback::QueueState;

/// A duration in days with one decimal (what the JSON shows).
pub(crate) fn days(d: Duration) -> f64 {
    (d.num_seconds().max(0) as f64 / 86_400.0 * 10.0).round() / 10.0
}

/// "less than a day", "1 day", "3 days" (whole days, rounded down).
fn for_days(d: Duration) -> String {
    match d.num_days() {
        n if n < 1 => "less than a day".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st...
pub(crate) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl PublicStatus {
    /// How long the current state has held.
    pub(crate) fn age(&self) -> Option<Duration> {
        self.waiting_since.map(|t| self.now - t)
    }

    /// The status as one or two sentences.
    pub(crate) fn message(&self) -> String {
        let age = for_days(self.age().unwrap_or_default());
        let place = match self.place {
            Some(p) => format!("; {} of {} in the queue", ordinal(p.position), p.length),
            None => String::new(),
        };
        let head = match self.state {
            PublicState::Approved => return "Approved: the version is published.".into(),
            PublicState::Blocked => {
                return "Blocked by the automated checks: it cannot be approved until the authors \
                        upload a fixed version or staff lift the block."
                    .into();
            }
            PublicState::Validating => format!("Being checked by the automated scan{place}"),
            PublicState::Queued(QueueState::AwaitingReview) => {
                format!("Waiting for review for {age}{place}")
            }
            PublicState::Queued(QueueState::ChangesRequested) => {
                format!("The reviewers asked for changes {age} ago; waiting for the authors{place}")
            }
            PublicState::Queued(QueueState::Resolved) => {
                format!("Every requested change was made {age} ago; waiting for review{place}")
            }
        };
        format!("{head}. {}", self.median_sentence())
    }

    fn median_sentence(&self) -> String {
        match self.median {
            Some(m) => format!(
                "Over the last {MEDIAN_DAYS} days, versions were approved a median of {:.1} days \
                 after upload.",
                days(m)
            ),
            None => {
                format!("No version was approved by a reviewer in the last {MEDIAN_DAYS} days.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::feedback::QueuePlace;

    fn status(state: PublicState, waited_hours: i64, place: Option<(u32, u32)>) -> PublicStatus {
        let now = catalog::time::now();
        PublicStatus {
            package: "p".into(),
            version: "1.0".into(),
            state,
            waiting_since: Some(now - Duration::hours(waited_hours)),
            now,
            place: place.map(|(position, length)| QueuePlace { position, length }),
            median: Some(Duration::hours(36)),
        }
    }

    #[test]
    fn the_message_names_age_place_and_median() {
        let s = status(PublicState::Queued(QueueState::AwaitingReview), 3 * 24 + 5, Some((2, 7)));
        assert_eq!(
            s.message(),
            "Waiting for review for 3 days; 2nd of 7 in the queue. Over the last 30 days, \
             versions were approved a median of 1.5 days after upload."
        );
        let s = status(PublicState::Queued(QueueState::ChangesRequested), 2, Some((1, 1)));
        assert!(s.message().starts_with("The reviewers asked for changes less than a day ago"));
        let mut s = status(PublicState::Queued(QueueState::Resolved), 30, None);
        s.median = None;
        assert_eq!(
            s.message(),
            "Every requested change was made 1 day ago; waiting for review. No version was \
             approved by a reviewer in the last 30 days."
        );
        assert_eq!(days(Duration::hours(36)), 1.5);
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal).into();
        assert_eq!(
            got,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
        );
    }
}
