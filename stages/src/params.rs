//! Typed access to resolved parameters inside a stage.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::StageError;

/// Reads a required string parameter.
pub fn get_str<'a>(params: &'a BTreeMap<String, Value>, name: &str) -> Result<&'a str, StageError> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| StageError(format!("parameter {name:?} must be a string")))
}

/// Reads a list-of-strings parameter (missing means empty).
pub fn get_str_list(params: &BTreeMap<String, Value>, name: &str) -> Result<Vec<String>, StageError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StageError(format!("parameter {name:?} must be a list of strings"))),
        Some(_) => Err(StageError(format!("parameter {name:?} must be a list of strings"))),
    }
}

/// Renders a scalar parameter the way it appears on a command line.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// Reads a number parameter.
pub fn get_f64(params: &BTreeMap<String, Value>, name: &str) -> Result<f64, StageError> {
    params
        .get(name)
        .and_then(Value::as_f64)
        .ok_or_else(|| StageError(format!("parameter {name:?} must be a number")))
}

/// Reads an integer parameter.
pub fn get_i64(params: &BTreeMap<String, Value>, name: &str) -> Result<i64, StageError> {
    params
        .get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| StageError(format!("parameter {name:?} must be an integer")))
}

/// Reads an integer parameter that must be at least 1.
pub fn get_positive(params: &BTreeMap<String, Value>, name: &str) -> Result<usize, StageError> {
    usize::try_from(get_i64(params, name)?).ok().filter(|&v| v > 0).ok_or_else(|| StageError(format!("{name} must be positive")))
}

/// Reads a boolean parameter.
pub fn get_bool(params: &BTreeMap<String, Value>, name: &str) -> Result<bool, StageError> {
    params
        .get(name)
        .and_then(Value::as_bool)
        .ok_or_else(|| StageError(format!("parameter {name:?} must be true or false")))
}

/// The path of a named input, or an error naming the missing input.
pub fn input_path<'a>(ctx: &'a crate::RunContext<'_>, name: &str) -> Result<&'a std::path::Path, StageError> {
    ctx.inputs.get(name).map(|i| i.path.as_path()).ok_or_else(|| {
        let given: Vec<&String> = ctx.inputs.keys().collect();
        StageError(format!("this kind needs an input named {name:?} (given: {given:?})"))
    })
}
