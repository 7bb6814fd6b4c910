//! Pod placement on workers.
