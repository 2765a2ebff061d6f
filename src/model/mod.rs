//! The canonical tables: their schemas and the versioned Parquet warehouse.

pub mod columns;
pub mod lock;
pub mod parquet;
pub mod partition;
pub mod warehouse;
