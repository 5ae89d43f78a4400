//! Reviewer feedback (reference §5.4): every statement on `feedback_tasks`.
