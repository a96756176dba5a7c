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
