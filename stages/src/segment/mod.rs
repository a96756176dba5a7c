//! Lung segmentation on HU volumes: 3-D connected components
//! ([`components`]) and the lung mask built from them, filled, dilated and
//! cropped ([`lungs`]).

pub mod components;
pub mod lungs;
