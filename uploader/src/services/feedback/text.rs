//! The pure parsing of feedback text into tasks (reference §5.4): lines starting with
//! `- [ ]` after leading whitespace are tasks (the text after the marker, trimmed; empty
//! ones dropped); without such a line the whole text is one task. With the limits.

/// The longest feedback text accepted, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 10_000;
/// The most tasks one feedback may create.
pub(crate) const MAX_TASKS: usize = 50;
/// The longest task, in characters (the reference's column).
pub(crate) const MAX_TASK_CHARS: usize = 1_000;
/// The longest answer of an author, in characters.
pub(crate) const MAX_ANSWER_CHARS: usize = 2_000;

const MARKER: &str = "- [ ]";

/// Why a feedback text is refused; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FeedbackTextError {
    #[error(
        "The feedback is empty: write what the author should change (each line starting with \
         `- [ ]` becomes a separate task)."
    )]
    Empty,
    #[error(
        "The feedback is {0} characters long; at most 10000 are accepted. Shorten it, or send \
         the rest as a second feedback."
    )]
    TooLong(usize),
    #[error(
        "The feedback has {0} tasks; at most 50 are accepted at once. Merge some, or send the \
         rest as a second feedback."
    )]
    TooManyTasks(usize),
    #[error(
        "Task {index} is {chars} characters long; a task may have at most 1000. Split it into \
         several `- [ ]` lines."
    )]
    TaskTooLong { index: usize, chars: usize },
}

/// The tasks of a feedback text.
pub(crate) fn parse_tasks(text: &str) -> Result<Vec<String>, FeedbackTextError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(FeedbackTextError::TooLong(chars));
    }
    let marked: Vec<&str> =
        text.lines().filter_map(|l| l.trim_start().strip_prefix(MARKER)).collect();
    let tasks: Vec<String> = if marked.is_empty() {
        vec![text.trim().to_owned()]
    } else {
        marked.iter().map(|t| t.trim().to_owned()).collect()
    };
    let tasks: Vec<String> = tasks.into_iter().filter(|t| !t.is_empty()).collect();
    if tasks.is_empty() {
        return Err(FeedbackTextError::Empty);
    }
    if tasks.len() > MAX_TASKS {
        return Err(FeedbackTextError::TooManyTasks(tasks.len()));
    }
    if let Some((i, t)) = tasks.iter().enumerate().find(|(_, t)| t.chars().count() > MAX_TASK_CHARS)
    {
        return Err(FeedbackTextError::TaskTooLong { index: i + 1, chars: t.chars().count() });
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_become_tasks() {
        let cases: &[(&str, &[&str])] = &[
            ("Please add a licence.", &["Please add a licence."]),
            ("  one task, trimmed \n second line\n", &["one task, trimmed \n second line"]),
            ("Intro\n- [ ] fix a\n  - [ ]   fix b  \nOutro", &["fix a", "fix b"]),
            ("- [ ] a\n- [ ]\n- [ ]   \n", &["a"]),
            ("\t- [ ] tabbed", &["tabbed"]),
            ("- [x] done is not a marker", &["- [x] done is not a marker"]),
            ("x - [ ] not at the start", &["x - [ ] not at the start"]),
            ("- [ ] é ünïcode", &["é ünïcode"]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_tasks(text).unwrap(), *want, "{text:?}");
        }
    }

    #[test]
    fn limits_give_clear_errors() {
        let long_task = format!("- [ ] {}", "a".repeat(MAX_TASK_CHARS + 1));
        let many = "- [ ] t\n".repeat(MAX_TASKS + 1);
        let ok_many = "- [ ] t\n".repeat(MAX_TASKS);
        let cases: &[(String, Result<usize, FeedbackTextError>)] = &[
            (String::new(), Err(FeedbackTextError::Empty)),
            ("   \n ".into(), Err(FeedbackTextError::Empty)),
            ("- [ ]\n- [ ]  ".into(), Err(FeedbackTextError::Empty)),
            (
                "é".repeat(MAX_TEXT_CHARS),
                Err(FeedbackTextError::TaskTooLong { index: 1, chars: MAX_TEXT_CHARS }),
            ),
            ("a".repeat(MAX_TEXT_CHARS + 1), Err(FeedbackTextError::TooLong(MAX_TEXT_CHARS + 1))),
            (many, Err(FeedbackTextError::TooManyTasks(MAX_TASKS + 1))),
            (ok_many, Ok(MAX_TASKS)),
            (
                format!("- [ ] ok\n{long_task}"),
                Err(FeedbackTextError::TaskTooLong { index: 2, chars: MAX_TASK_CHARS + 1 }),
            ),
            ("a".repeat(MAX_TASK_CHARS), Ok(1)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_tasks(text).map(|t| t.len()), *want, "{:.40}", text);
        }
        assert!(FeedbackTextError::TooManyTasks(51).to_string().contains("at most 50"));
    }
}
