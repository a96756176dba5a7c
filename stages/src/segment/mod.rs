//! Lung segmentation on HU volumes: runs along x ([`runs`]), 3-D connected
//! components ([`components`]), binary morphology ([`morphology`]), the two lungs told
//! apart ([`split`]) and closed by per-slice convex hulls ([`hull`]), and the
//! lung mask built from them ([`lungs`]), with its picture ([`picture`]).

pub mod components;
pub mod distance;
pub mod hull;
pub mod lungs;
pub mod morphology;
pub mod nodules;
pub mod picture;
pub mod runs;
pub mod split;
