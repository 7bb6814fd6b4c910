//! drover-coordinator
