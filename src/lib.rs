pub mod config;
pub mod error;
pub mod exec;
pub mod expr;
pub mod io;
pub mod memory;
pub mod metrics;
pub mod spill;
