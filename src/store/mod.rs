//! The store: the content-addressed cache on disk ([`cache`]), files read
//! whole with a cap ([`bounded`]), the manifest
//! beside every entry ([`manifest`]), content keys ([`keys`]), file digests
//! with a stat cache ([`digest`]), the state database ([`state`]) and the
//! entries whose lineage is not recorded yet ([`unrecorded`]), and a
//! shared cache on an S3 object store ([`remote`]).
//!
//! The store knows keys and bytes, never pipelines or stage kinds.

pub mod bounded;
pub mod cache;
pub mod digest;
pub mod integrity;
pub mod keys;
pub mod manifest;
pub mod names;
pub mod remote;
pub mod state;
pub mod unrecorded;
