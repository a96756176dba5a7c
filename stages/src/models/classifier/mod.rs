//! The cancer classifier on encoder features: a 3-D CNN with spatial pyramid
//! pooling, its training loop and the scores it is judged by.

pub mod data;
pub mod model;
pub mod scores;
pub mod spp;
pub mod train;
