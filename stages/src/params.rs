//! Parameters declared once per kind: [`kind_params!`](crate::kind_params) turns one struct
//! declaration (name, type, default and doc of every field) into both the
//! [`ParamSpec`](crate::ParamSpec) list a kind declares and the typed values it runs with.
//!
//! ```
//! use lungflow_stages::kind_params;
//! use serde_json::json;
//!
//! kind_params! {
//!     /// The parameters of `resample`.
//!     pub struct Params {
//!         /// target spacing in mm on every axis
//!         spacing_mm: f64 = 1.0,
//!     }
//! }
//! let specs = Params::specs();
//! assert_eq!((specs[0].name, specs[0].doc, specs[0].default.clone()), ("spacing_mm", "target spacing in mm on every axis", Some(json!(1.0))));
//! let given = std::collections::BTreeMap::from([("spacing_mm".to_owned(), json!(0.5))]);
//! assert_eq!(Params::parse(&given).unwrap().spacing_mm, 0.5);
//! ```
//!
//! A field's doc line is its [`ParamSpec::doc`](crate::ParamSpec::doc), its Rust type gives the
//! [`ParamType`] (`String`, `f64`, `i64`, `bool`, `Vec<String>`) and its
//! default expression becomes the JSON default; a field without `= default`
//! is required. Names, types and defaults feed the cache keys: changing one
//! invalidates every cached result of the kind. The settings every training
//! loop has are declared once, in [`training`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{ParamType, RunContext, StageError};

pub mod training;

/// A Rust type a declared parameter can have.
pub trait ParamValue: Sized {
    /// The parameter type the engine checks values against.
    const TYPE: ParamType;
    /// The value, or the error naming the parameter `name`.
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError>;
}

impl ParamValue for String {
    const TYPE: ParamType = ParamType::Str;
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError> {
        value.and_then(Value::as_str).map(str::to_owned).ok_or_else(|| StageError(format!("parameter {name:?} must be a string")))
    }
}

impl ParamValue for f64 {
    const TYPE: ParamType = ParamType::Float;
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError> {
        value.and_then(Value::as_f64).ok_or_else(|| StageError(format!("parameter {name:?} must be a number")))
    }
}

impl ParamValue for i64 {
    const TYPE: ParamType = ParamType::Int;
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError> {
        value.and_then(Value::as_i64).ok_or_else(|| StageError(format!("parameter {name:?} must be an integer")))
    }
}

impl ParamValue for bool {
    const TYPE: ParamType = ParamType::Bool;
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError> {
        value.and_then(Value::as_bool).ok_or_else(|| StageError(format!("parameter {name:?} must be true or false")))
    }
}

impl ParamValue for Vec<String> {
    const TYPE: ParamType = ParamType::StrList;
    /// A missing list is empty.
    fn read(value: Option<&Value>, name: &str) -> Result<Self, StageError> {
        let wrong = || StageError(format!("parameter {name:?} must be a list of strings"));
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>().ok_or_else(wrong),
            Some(_) => Err(wrong()),
        }
    }
}

/// Reads one declared parameter from resolved values (used by [`kind_params!`](crate::kind_params)).
pub fn read<T: ParamValue>(values: &BTreeMap<String, Value>, name: &str) -> Result<T, StageError> {
    T::read(values.get(name), name)
}

/// Declares a kind's parameters once; see the [module docs](self).
///
/// Generates the struct with public fields and two functions: `specs()`, the
/// `Vec<ParamSpec>` for [`StageKind::params`](crate::StageKind::params), and
/// `parse(&BTreeMap<String, Value>)`, the typed values for `run`.
#[macro_export]
macro_rules! kind_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                #[doc = $doc:expr]
                $field:ident : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $name {
            $(
                #[doc = $doc]
                pub $field: $ty,
            )*
        }

        impl $name {
            /// The declared parameters, in declaration order.
            pub fn specs() -> Vec<$crate::ParamSpec> {
                vec![$(
                    $crate::ParamSpec {
                        name: stringify!($field),
                        ty: <$ty as $crate::params::ParamValue>::TYPE,
                        default: $crate::kind_params!(@default $($default)?),
                        doc: $doc.trim(),
                    }
                ),*]
            }

            /// Reads every declared parameter from the resolved values.
            pub fn parse(
                values: &::std::collections::BTreeMap<String, ::serde_json::Value>,
            ) -> Result<Self, $crate::StageError> {
                Ok($name { $($field: $crate::params::read(values, stringify!($field))?,)* })
            }
        }
    };
    (@default) => { None };
    (@default $default:expr) => { Some(::serde_json::json!($default)) };
}

/// An integer parameter that must be at least 1, as a count.
pub fn positive(name: &str, value: i64) -> Result<usize, StageError> {
    usize::try_from(value).ok().filter(|&v| v > 0).ok_or_else(|| StageError(format!("{name} must be positive, got {value}")))
}

/// Renders a scalar parameter the way it appears on a command line.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The path of a named input, or an error naming the missing input.
pub fn input_path<'a>(ctx: &'a RunContext<'_>, name: &str) -> Result<&'a std::path::Path, StageError> {
    ctx.inputs.get(name).map(|i| i.path.as_path()).ok_or_else(|| {
        let given: Vec<&String> = ctx.inputs.keys().collect();
        StageError(format!("this kind needs an input named {name:?} (given: {given:?})"))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    kind_params! {
        /// Test parameters.
        struct Example {
            /// a required text
            name: String,
            /// a number
            scale: f64 = 2.5,
            /// a count
            count: i64 = 3,
            /// a switch
            on: bool = true,
            /// some words
            words: Vec<String> = Vec::<String>::new(),
        }
    }

    #[test]
    fn one_declaration_gives_the_specs_and_the_typed_values() {
        let specs = Example::specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["name", "scale", "count", "on", "words"]);
        assert_eq!(specs[0].default, None);
        assert_eq!(specs[1].default, Some(json!(2.5)));
        assert_eq!((specs[2].ty, specs[2].doc), (ParamType::Int, "a count"));
        assert_eq!(specs[4].default, Some(json!([])));
        let mut values: BTreeMap<String, Value> = specs.iter().filter_map(|s| Some((s.name.to_owned(), s.default.clone()?))).collect();
        values.insert("name".into(), json!("x"));
        let p = Example::parse(&values).unwrap();
        assert_eq!((p.name.as_str(), p.scale, p.count, p.on, p.words.len()), ("x", 2.5, 3, true, 0));
        values.insert("count".into(), json!("three"));
        assert_eq!(Example::parse(&values).unwrap_err().0, "parameter \"count\" must be an integer");
    }

    #[test]
    fn counts_must_be_positive() {
        assert_eq!(positive("edge", 4).unwrap(), 4);
        assert_eq!(positive("edge", 0).unwrap_err().0, "edge must be positive, got 0");
    }
}
