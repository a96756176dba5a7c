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
//!         #[range(0.1..=20.0)]
//!         spacing_mm: f64 = 1.0,
//!     }
//! }
//! let specs = Params::specs();
//! assert_eq!((specs[0].name, specs[0].doc, specs[0].default.clone()), ("spacing_mm", "target spacing in mm on every axis", Some(json!(1.0))));
//! let given = std::collections::BTreeMap::from([("spacing_mm".to_owned(), json!(0.5))]);
//! assert_eq!(Params::parse(&given).unwrap().spacing_mm, 0.5);
//! let given = std::collections::BTreeMap::from([("spacing_mm".to_owned(), json!(1e-300))]);
//! assert_eq!(Params::parse(&given).unwrap_err().0, "parameter spacing_mm must be between 0.1 and 20, got 1e-300");
//! ```
//!
//! A field's doc line is its [`ParamSpec::doc`](crate::ParamSpec::doc), its Rust type gives the
//! [`ParamType`] (`String`, `f64`, `i64`, `bool`, `Vec<String>`) and its
//! default expression becomes the JSON default; a field without `= default`
//! is required. A number may declare the values it accepts with
//! `#[range(LOW..=HIGH)]` (bounds included) or `#[range(LOW..)]` after its doc
//! line: `parse` refuses anything else, naming the parameter, the value and the
//! range, and the engine refuses it where the pipeline file gives it. A
//! `#[check(FUNCTION)]` after that is a [`ParamSpec::check`](crate::ParamSpec::check)
//! the engine runs when it loads a pipeline ([`template::check`]). Names,
//! types and defaults feed the cache keys: changing one invalidates every
//! cached result of the kind. A range does not: it only refuses values. The
//! settings every training loop has are declared once, in [`training`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{ParamRange, ParamType, RunContext, StageError};

pub mod template;
pub mod training;

/// The range of a parameter in Hounsfield units: what a volume can hold
/// (16-bit signed voxels).
pub const HU: std::ops::RangeInclusive<f64> = -32768.0..=32767.0;

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

/// Reads one declared parameter from resolved values and checks it against
/// its declared range, if any (used by [`kind_params!`](crate::kind_params)).
pub fn read<T: ParamValue>(values: &BTreeMap<String, Value>, name: &str, range: Option<ParamRange>) -> Result<T, StageError> {
    let typed = T::read(values.get(name), name)?;
    if let (Some(range), Some(value)) = (range, values.get(name)) {
        range.check(value).map_err(|e| StageError(format!("parameter {name} {e}")))?;
    }
    Ok(typed)
}

/// A range a parameter of Rust type `T` may declare: `LOW..=HIGH` or `LOW..`
/// of the same type (so `1..=10` does not fit a float, nor `0.5..` an integer).
pub trait DeclaredRange<T> {
    /// The range as the engine sees it.
    fn declared(self) -> ParamRange;
}

impl DeclaredRange<f64> for std::ops::RangeInclusive<f64> {
    fn declared(self) -> ParamRange {
        ParamRange::Float { min: *self.start(), max: Some(*self.end()) }
    }
}

impl DeclaredRange<f64> for std::ops::RangeFrom<f64> {
    fn declared(self) -> ParamRange {
        ParamRange::Float { min: self.start, max: None }
    }
}

impl DeclaredRange<i64> for std::ops::RangeInclusive<i64> {
    fn declared(self) -> ParamRange {
        ParamRange::Int { min: *self.start(), max: Some(*self.end()) }
    }
}

impl DeclaredRange<i64> for std::ops::RangeFrom<i64> {
    fn declared(self) -> ParamRange {
        ParamRange::Int { min: self.start, max: None }
    }
}

/// The range declared for a field of type `T` (used by [`kind_params!`](crate::kind_params)).
pub fn range_of<T, R: DeclaredRange<T>>(range: R) -> ParamRange {
    range.declared()
}

/// Declares a kind's parameters once; see the [module docs](self).
///
/// Generates the struct with public fields and two functions: `specs()`, the
/// `Vec<ParamSpec>` for [`StageKind::params`](crate::StageKind::params), and
/// `parse(&BTreeMap<String, Value>)`, the typed values for `run`, each checked
/// against its `#[range(..)]`.
#[macro_export]
macro_rules! kind_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                #[doc = $doc:expr]
                $(#[range($range:expr)])?
                $(#[check($check:path)])?
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
                        range: $crate::kind_params!(@range $ty $(, $range)?),
                        check: $crate::kind_params!(@check $($check)?),
                    }
                ),*]
            }

            /// Reads every declared parameter from the resolved values.
            pub fn parse(
                values: &::std::collections::BTreeMap<String, ::serde_json::Value>,
            ) -> Result<Self, $crate::StageError> {
                Ok($name {
                    $($field: $crate::params::read(values, stringify!($field), $crate::kind_params!(@range $ty $(, $range)?))?,)*
                })
            }
        }
    };
    (@default) => { None };
    (@default $default:expr) => { Some(::serde_json::json!($default)) };
    (@range $ty:ty) => { None };
    (@range $ty:ty, $range:expr) => { Some($crate::params::range_of::<$ty, _>($range)) };
    (@check) => { None };
    (@check $check:path) => { Some($check) };
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

    kind_params! {
        /// Parameters with declared ranges.
        struct Ranged {
            /// spacing in mm
            #[range(0.1..=20.0)]
            spacing_mm: f64 = 1.0,
            /// patients
            #[range(1..=10_000)]
            patients: i64 = 12,
            /// a ratio with no upper bound
            #[range(1.0..)]
            ratio: f64 = 4.8,
            /// any seed
            seed: i64 = 0,
        }
    }

    fn ranged(name: &str, value: Value) -> Result<Ranged, StageError> {
        let mut values: BTreeMap<String, Value> =
            Ranged::specs().iter().filter_map(|s| Some((s.name.to_owned(), s.default.clone()?))).collect();
        values.insert(name.to_owned(), value);
        Ranged::parse(&values)
    }

    #[test]
    fn a_declared_range_is_in_the_specs_and_parse_refuses_values_outside_it_naming_them() {
        let ranges: Vec<Option<ParamRange>> = Ranged::specs().iter().map(|s| s.range).collect();
        assert_eq!(
            ranges,
            [
                Some(ParamRange::Float { min: 0.1, max: Some(20.0) }),
                Some(ParamRange::Int { min: 1, max: Some(10_000) }),
                Some(ParamRange::Float { min: 1.0, max: None }),
                None,
            ]
        );
        for (value, shown) in
            [(json!(1e-300), "1e-300"), (json!(1e300), "1e300"), (json!(0.0), "0"), (json!(-1.0), "-1"), (json!(20.5), "20.5")]
        {
            let e = ranged("spacing_mm", value).unwrap_err().0;
            assert_eq!(e, format!("parameter spacing_mm must be between 0.1 and 20, got {shown}"));
        }
        assert_eq!(ranged("patients", json!(-5)).unwrap_err().0, "parameter patients must be between 1 and 10000, got -5");
        assert_eq!(ranged("patients", json!(10_001)).unwrap_err().0, "parameter patients must be between 1 and 10000, got 10001");
        assert_eq!(ranged("ratio", json!(0.5)).unwrap_err().0, "parameter ratio must be at least 1, got 0.5");
        // Both bounds are accepted, and so is anything above an open range.
        assert_eq!(ranged("spacing_mm", json!(0.1)).unwrap().spacing_mm, 0.1);
        assert_eq!(ranged("spacing_mm", json!(20.0)).unwrap().spacing_mm, 20.0);
        assert_eq!(ranged("patients", json!(10_000)).unwrap().patients, 10_000);
        assert_eq!(ranged("ratio", json!(1e300)).unwrap().ratio, 1e300);
        assert_eq!(ranged("seed", json!(i64::MIN)).unwrap().seed, i64::MIN);
        // A type error is reported as such, before the range.
        assert_eq!(ranged("patients", json!(1e12)).unwrap_err().0, "parameter \"patients\" must be an integer");
    }

    #[test]
    fn counts_must_be_positive() {
        assert_eq!(positive("edge", 4).unwrap(), 4);
        assert_eq!(positive("edge", 0).unwrap_err().0, "edge must be positive, got 0");
    }
}
