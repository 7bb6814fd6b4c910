//! Validation on create.
