//! The Gaussian-mixture convolutional autoencoder (GMCAE) of kdsb17: a 3-D
//! convolutional autoencoder whose output is, per patch, a mixture of m
//! isotropic Gaussians over the whole cube (m mean cubes, m log-priors, m
//! variances), trained by the mixture's negative log-likelihood.
//!
//! `model` is the network, `loss` the likelihood, `data` patches and their
//! 48 symmetries, `features` the encoder applied to whole volumes, `train`
//! the loop, `silent` the encoder channels that never fire.

pub mod data;
pub mod features;
pub mod loss;
pub mod model;
pub mod silent;
pub mod train;
