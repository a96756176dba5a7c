//! Lineage: for one output row (a prediction), the cache entries, models,
//! training items and source files it came from ([`trace`]), drawn as text or
//! Mermaid ([`render`]), rehashed ([`verify`]), and the lineage graph of the
//! whole cache as one Parquet dataset ([`table`]).

pub mod render;
pub mod table;
pub mod trace;
pub mod verify;
