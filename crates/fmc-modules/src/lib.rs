//! The task modules (probe, plan, finish) and their registry
