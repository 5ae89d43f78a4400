//! Library of the uploader.
