//! In-process tests of the authors' pages.
