//! drover-worker
