//! CLI surface tests.
mod common;
