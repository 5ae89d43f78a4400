//! `Problem` (one error or warning, with its stable code and a hint) and `Rejection` (every
//! error of a refused zip): what authors, `uploader check` and the upload API show.

use super::code::ProblemCode;

/// One problem (error or warning) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `archive.*`, `package.*`, `metadata.*`, `license.*`, `icon.*`.
    pub code: ProblemCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What to do about it.
    pub hint: String,
}

impl Problem {
    pub(crate) fn new(
        code: ProblemCode,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self { code, message: message.into(), file: None, key: None, hint: hint.into() }
    }
    pub(crate) fn with_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_owned());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)?;
        if !self.hint.is_empty() {
            write!(f, " Hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Why an upload was refused: every error found (at least one), and the warnings so far.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin package was refused ({} problem(s))", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n- {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    pub(crate) fn one(p: Problem) -> Self {
        Self { errors: vec![p], warnings: Vec::new() }
    }
}
