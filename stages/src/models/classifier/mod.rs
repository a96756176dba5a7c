//! The cancer classifier on encoder features: a 3-D CNN with spatial pyramid
//! pooling, its training loop, cross-validation, and the scores it is judged
//! by with their bootstrap intervals and calibration.

pub mod bootstrap;
pub mod calibration;
pub mod cross_validation;
pub mod cv_summary;
pub mod data;
pub mod dropout;
pub mod folds;
pub mod lung_pool;
pub mod model;
pub mod multiplicity;
pub mod normalise;
pub mod paired;
pub mod scores;
pub mod sensitivity;
pub mod side_by_side;
pub mod spp;
pub mod train;
