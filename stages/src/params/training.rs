//! The settings of a training loop, declared once for the kinds that train
//! (`gmcae_train`, `classifier_train`): [`training_params!`](crate::training_params)
//! is [`kind_params!`](crate::kind_params) with the loop's settings after the
//! kind's own, always in this order:
//!
//! | name | type | default | range | doc |
//! | --- | --- | --- | --- | --- |
//! | `batch_size` | int | the kind's | 1 to [`MAX_BATCH`] | the kind's (what one step takes) |
//! | `epochs` | int | the kind's | 1 to [`MAX_EPOCHS`] | most epochs |
//! | `patience` | int | the kind's | 1 to [`MAX_EPOCHS`] | the kind's (when it counts) |
//! | `clip_norm` | float | 1.0 | 0 to 1e6 | global gradient-norm limit; 0 turns clipping off |
//! | `val_fraction` | float | 0.25 | 0.01 to 0.9 | the kind's (how it splits) |
//! | the kind's `own` settings, if any | | | | |
//! | `seed` | int | 0 | any | seed for initialisation, split, order and augmentation |
//! | `augment` | bool | true | | the kind's (what it augments) |
//! | `device` | string | cpu | | cpu (burn flex) or cuda (needs --features cuda) |
//!
//! ```
//! use lungflow_stages::training_params;
//!
//! training_params! {
//!     /// The parameters of a trainer.
//!     pub struct Params {
//!         /// Adam learning rate
//!         lr: f64 = 1e-3,
//!     }
//!     training {
//!         /// patients per step
//!         batch_size = 4,
//!         epochs = 30,
//!         /// early stopping patience in epochs
//!         patience = 8,
//!         /// fraction of patients held out for validation
//!         val_fraction,
//!         own {
//!             /// folds of cross-validation (0 = none)
//!             folds: i64 = 0,
//!         }
//!         /// random cube symmetry per patient per step
//!         augment,
//!     }
//! }
//! let names: Vec<&str> = Params::specs().iter().map(|s| s.name).collect();
//! assert_eq!(names, ["lr", "batch_size", "epochs", "patience", "clip_norm", "val_fraction", "folds", "seed", "augment", "device"]);
//! ```
//!
//! Names, types, defaults and docs feed the cache keys and `lungflow kinds`:
//! a change here changes them for every kind that trains.

/// The most items one training step may take.
pub const MAX_BATCH: i64 = 4096;

/// The most epochs (and the longest patience) a training may ask for.
pub const MAX_EPOCHS: i64 = 100_000;

/// Declares a training kind's parameters once; see the [module docs](self).
///
/// Takes the kind's own parameters as [`kind_params!`](crate::kind_params)
/// does, then a `training { .. }` block with what differs between trainers:
/// the defaults of `batch_size`, `epochs` and `patience`, the docs of
/// `batch_size`, `patience`, `val_fraction` and `augment`, and optionally an
/// `own { .. }` block of settings that go between `val_fraction` and `seed`.
#[macro_export]
macro_rules! training_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                #[doc = $doc:expr]
                $(#[range($range:expr)])?
                $field:ident : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
        training {
            #[doc = $batch_doc:expr]
            batch_size = $batch:expr,
            epochs = $epochs:expr,
            #[doc = $patience_doc:expr]
            patience = $patience:expr,
            #[doc = $split_doc:expr]
            val_fraction,
            $(own {
                $(
                    #[doc = $own_doc:expr]
                    $(#[range($own_range:expr)])?
                    $own:ident : $own_ty:ty = $own_default:expr
                ),* $(,)?
            })?
            #[doc = $augment_doc:expr]
            augment $(,)?
        }
    ) => {
        $crate::kind_params! {
            $(#[$meta])*
            $vis struct $name {
                $(#[doc = $doc] $(#[range($range)])? $field: $ty $(= $default)?,)*
                #[doc = $batch_doc]
                #[range(1..=$crate::params::training::MAX_BATCH)]
                batch_size: i64 = $batch,
                /// most epochs
                #[range(1..=$crate::params::training::MAX_EPOCHS)]
                epochs: i64 = $epochs,
                #[doc = $patience_doc]
                #[range(1..=$crate::params::training::MAX_EPOCHS)]
                patience: i64 = $patience,
                /// global gradient-norm limit; 0 turns clipping off
                #[range(0.0..=1e6)]
                clip_norm: f64 = 1.0,
                #[doc = $split_doc]
                #[range(0.01..=0.9)]
                val_fraction: f64 = 0.25,
                $($(#[doc = $own_doc] $(#[range($own_range)])? $own: $own_ty = $own_default,)*)?
                /// seed for initialisation, split, order and augmentation
                seed: i64 = 0,
                #[doc = $augment_doc]
                augment: bool = true,
                /// cpu (burn flex) or cuda (needs --features cuda)
                device: String = "cpu",
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::ParamType;

    training_params! {
        /// Without settings of its own.
        struct Plain {
            /// a width
            width: i64 = 16,
        }
        training {
            /// items per step
            batch_size = 2,
            epochs = 5,
            /// patience
            patience = 1,
            /// held out
            val_fraction,
            /// flips
            augment,
        }
    }

    training_params! {
        /// With a setting of its own and no parameter before the loop's.
        struct WithFolds {}
        training {
            /// cases per step
            batch_size = 6,
            epochs = 40,
            /// patience, counted late
            patience = 9,
            /// fraction of each class held out
            val_fraction,
            own {
                /// folds (0 = none)
                folds: i64 = 0,
            }
            /// one symmetry per step
            augment,
        }
    }

    #[test]
    fn the_loop_s_settings_follow_the_kind_s_own_with_shared_docs_and_defaults() {
        let specs = Plain::specs();
        let rows: Vec<(&str, ParamType, Option<Value>, &str)> = specs.iter().map(|s| (s.name, s.ty, s.default.clone(), s.doc)).collect();
        assert_eq!(
            rows,
            [
                ("width", ParamType::Int, Some(json!(16)), "a width"),
                ("batch_size", ParamType::Int, Some(json!(2)), "items per step"),
                ("epochs", ParamType::Int, Some(json!(5)), "most epochs"),
                ("patience", ParamType::Int, Some(json!(1)), "patience"),
                ("clip_norm", ParamType::Float, Some(json!(1.0)), "global gradient-norm limit; 0 turns clipping off"),
                ("val_fraction", ParamType::Float, Some(json!(0.25)), "held out"),
                ("seed", ParamType::Int, Some(json!(0)), "seed for initialisation, split, order and augmentation"),
                ("augment", ParamType::Bool, Some(json!(true)), "flips"),
                ("device", ParamType::Str, Some(json!("cpu")), "cpu (burn flex) or cuda (needs --features cuda)"),
            ]
        );
        let values: BTreeMap<String, Value> = specs.iter().filter_map(|s| Some((s.name.to_owned(), s.default.clone()?))).collect();
        let p = Plain::parse(&values).unwrap();
        assert_eq!((p.width, p.batch_size, p.epochs, p.patience, p.clip_norm, p.val_fraction), (16, 2, 5, 1, 1.0, 0.25));
        assert_eq!((p.seed, p.augment, p.device.as_str()), (0, true, "cpu"));
    }

    #[test]
    fn a_kind_s_own_loop_settings_sit_between_the_split_and_the_seed_and_parse() {
        let specs = WithFolds::specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["batch_size", "epochs", "patience", "clip_norm", "val_fraction", "folds", "seed", "augment", "device"]);
        let mut values: BTreeMap<String, Value> = specs.iter().filter_map(|s| Some((s.name.to_owned(), s.default.clone()?))).collect();
        values.insert("folds".into(), json!(5));
        let p = WithFolds::parse(&values).unwrap();
        assert_eq!((p.batch_size, p.epochs, p.patience, p.clip_norm, p.val_fraction), (6, 40, 9, 1.0, 0.25));
        assert_eq!((p.folds, p.seed, p.augment, p.device.as_str()), (5, 0, true, "cpu"));
    }
}
