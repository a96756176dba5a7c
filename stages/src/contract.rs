//! The contract between the engine and a stage kind: what a kind declares
//! ([`StageKind`], [`ParamSpec`], [`RowProvenance`], [`ReportView`]), what it
//! is given when it runs ([`RunContext`], [`Input`]) and how it fails
//! ([`StageError`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The type a parameter's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// A whole number.
    Int,
    /// A real number (whole numbers are accepted and widened).
    Float,
    /// true or false.
    Bool,
    /// A string (a number given here is taken as its text).
    Str,
    /// A list of strings.
    StrList,
    /// Any scalar: string, number or bool.
    Scalar,
}

impl ParamType {
    /// The name used in error messages and docs.
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Int => "an integer",
            ParamType::Float => "a number",
            ParamType::Bool => "a boolean",
            ParamType::Str => "a string",
            ParamType::StrList => "a list of strings",
            ParamType::Scalar => "a string, number or boolean",
        }
    }

    /// Checks a value against this type, returning it in canonical form
    /// (integers given for a float become floats).
    pub fn check(self, value: &Value) -> Result<Value, String> {
        let ok = match (self, value) {
            (ParamType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => true,
            (ParamType::Float, Value::Number(n)) => {
                return Ok(Value::from(n.as_f64().unwrap_or(f64::NAN)));
            }
            // A number where text is expected (e.g. `widths: 16`) is taken as written.
            (ParamType::Str, Value::Number(n)) => return Ok(Value::String(n.to_string())),
            (ParamType::Bool, Value::Bool(_)) => true,
            (ParamType::Str, Value::String(_)) => true,
            (ParamType::StrList, Value::Array(items)) => items.iter().all(Value::is_string),
            (ParamType::Scalar, Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
            _ => false,
        };
        if ok { Ok(value.clone()) } else { Err(format!("expected {}, found {}", self.describe(), describe_value(value))) }
    }
}

/// A short description of a JSON value for error messages.
pub fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", crate::logs::quote(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// One parameter a stage kind accepts.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// The parameter's name in the pipeline file.
    pub name: &'static str,
    /// The type its value must have.
    pub ty: ParamType,
    /// The default; `None` makes the parameter required.
    pub default: Option<Value>,
    /// One line for `lungflow kinds` and the README.
    pub doc: &'static str,
    /// The values a number accepts (`None`: any value of its type). Not part
    /// of any key: a range only refuses values, it never changes what an
    /// accepted value computes.
    pub range: Option<ParamRange>,
    /// A check of the value against the rest of the stage, run when a
    /// pipeline is loaded (declared with `#[check(FUNCTION)]`): a `command`'s
    /// template may only name the stage's inputs and parameters, and `{item}`
    /// only in a stage that runs per item. The error ends a sentence about
    /// the parameter.
    pub check: Option<fn(&Value, &StageShape<'_>) -> Result<(), String>>,
}

/// What a pipeline file says of a stage beyond its parameters' values: what a
/// [`ParamSpec::check`] looks at.
#[derive(Clone, Debug)]
pub struct StageShape<'a> {
    /// The names of its inputs.
    pub inputs: Vec<&'a str>,
    /// The names of its parameters, declared and given.
    pub params: Vec<&'a str>,
    /// Whether it runs once per item (`foreach`).
    pub per_item: bool,
}

/// The values a numeric parameter accepts, bounds included: declared with
/// `#[range(LOW..=HIGH)]`, or `#[range(LOW..)]` for no upper bound, in
/// [`kind_params!`](crate::kind_params). The engine checks it when it loads
/// a pipeline, and the parameter struct's `parse` checks it again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamRange {
    /// Whole numbers from `min` to `max` (no upper bound when `None`).
    Int {
        /// The smallest value accepted.
        min: i64,
        /// The largest value accepted.
        max: Option<i64>,
    },
    /// Real numbers from `min` to `max` (no upper bound when `None`).
    Float {
        /// The smallest value accepted.
        min: f64,
        /// The largest value accepted.
        max: Option<f64>,
    },
}

impl ParamRange {
    /// The range in words: `between 0.1 and 20`, `at least 1`.
    pub fn describe(&self) -> String {
        let (min, max) = self.bounds();
        match max {
            Some(max) => format!("between {} and {}", value_text(&min), value_text(&max)),
            None => format!("at least {}", value_text(&min)),
        }
    }

    /// Checks a value of the parameter's type, saying what is wrong as the
    /// end of a sentence about the parameter: `must be between 0.1 and 20, got 0`.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let inside = match *self {
            ParamRange::Int { min, max } => value.as_i64().is_some_and(|v| v >= min && max.is_none_or(|m| v <= m)),
            ParamRange::Float { min, max } => value.as_f64().is_some_and(|v| v >= min && max.is_none_or(|m| v <= m)),
        };
        if inside { Ok(()) } else { Err(format!("must be {}, got {}", self.describe(), value_text(value))) }
    }

    /// The bounds as JSON numbers (no upper bound: `None`).
    pub fn bounds(&self) -> (Value, Option<Value>) {
        match *self {
            ParamRange::Int { min, max } => (Value::from(min), max.map(Value::from)),
            ParamRange::Float { min, max } => (Value::from(min), max.map(Value::from)),
        }
    }
}

/// A value as a person writes it: numbers in the shorter of decimal and
/// exponent notation (`0.1`, `1e-300`, `-1`), anything else as
/// [`describe_value`] says.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let (plain, exp) = (format!("{f}"), format!("{f:e}"));
            if exp.len() < plain.len() { exp } else { plain }
        }
        Value::Number(n) => n.to_string(),
        other => describe_value(other),
    }
}

/// One input as a stage sees it: a path that exists while the stage runs.
#[derive(Clone, Debug)]
pub struct Input {
    /// A file or a directory. For an input gathered from every item of a
    /// per-item stage, a directory holding one entry per item id.
    pub path: PathBuf,
    /// The cache entries the input comes from (none for external files; one
    /// per item for a gathered input).
    pub producers: Vec<Producer>,
}

/// A cache entry an input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    /// The producing instance's item, for per-item stages.
    pub item: Option<String>,
    /// The producing instance's cache key.
    pub key: String,
}

/// Everything a stage kind may look at while it runs.
pub struct RunContext<'a> {
    /// Resolved parameters: defaults merged with the pipeline's values.
    pub params: &'a BTreeMap<String, Value>,
    /// Inputs by the names the pipeline gave them.
    pub inputs: &'a BTreeMap<String, Input>,
    /// The item id for per-item stages; `None` for stages that run once.
    pub item: Option<&'a str>,
    /// The directory to write outputs into; it exists and is empty.
    pub out_dir: &'a Path,
    /// A file for the stage's own log (stdout and stderr of programs it runs).
    pub log_path: &'a Path,
    /// A file for what depends on the machine rather than the inputs (wall
    /// times, throughput), kept beside the log: outputs must not hold it, so
    /// that they stay a function of parameters, inputs and code version.
    pub timings_path: &'a Path,
    /// The directory relative paths in parameters are resolved against.
    pub work_dir: &'a Path,
    /// How many threads the stage may use.
    pub threads: usize,
}

/// Why a stage failed; the message is shown to the user as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StageError(pub String);

impl StageError {
    /// An error from anything printable.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        StageError(message.to_string())
    }
}

/// Where a kind records, for each row of one of its output tables, the item
/// the row is about and the key of the cache entry the row was computed from;
/// lineage starts from such a row.
///
/// A kind that gathers per-item results into one table (`submission`, say)
/// declares this so that the engine can trace a row back to the entry that
/// produced it without knowing the kind, the table or its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowProvenance {
    /// File name of the Parquet table in the kind's output directory.
    pub table: &'static str,
    /// Column holding the item id (text).
    pub item_column: &'static str,
    /// Column holding the producing cache entry's key (text; null when the
    /// row's input came from no cache entry).
    pub key_column: &'static str,
}

/// What the HTML report shows of a kind's outputs beyond what it shows of
/// every kind (the per-epoch curves of `metrics.parquet`, the figures a stage
/// that runs once writes): the kind names its own files, columns and words
/// here, so that the engine knows none. Most kinds declare nothing (the
/// default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportView {
    /// A picture each instance writes for a person to check its item by.
    pub item_picture: Option<ItemPicture>,
    /// A table of held-out scores against true labels, drawn as an ROC curve.
    pub scored_labels: Option<ScoredLabels>,
    /// A table of an ROC curve's points, drawn as the curve.
    pub roc_curve: Option<RocCurve>,
    /// A reliability table (predicted against observed rate per probability
    /// bin), drawn as a reliability diagram.
    pub reliability: Option<Reliability>,
}

/// A picture an instance of a per-item kind writes (a segmentation outlined
/// on the image, say); the report shows it for a sample of items and for
/// every item with a failure, under its own heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemPicture {
    /// File name of the PNG in the kind's output directory.
    pub file: &'static str,
    /// The heading over the pictures (`Lung masks`).
    pub title: &'static str,
    /// What one picture shows, as the start of a sentence (`Three orthogonal
    /// slices with the mask outlined`).
    pub shows: &'static str,
    /// The caption's words for an item without the picture (`no lung mask`).
    pub missing: &'static str,
}

/// A Parquet table of a binary classifier's held-out scores, one row per
/// item: the report draws its ROC curve with the area under it, and on the
/// per-epoch log-loss charts the log loss of always predicting the table's
/// positive rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoredLabels {
    /// File name of the table in the kind's output directory.
    pub table: &'static str,
    /// Column of true labels: boolean, or numbers where above 0.5 is positive.
    pub label_column: &'static str,
    /// Column of the scores (probabilities of the positive class).
    pub score_column: &'static str,
    /// What a row is, in the plural, as the curve's title counts them (`patients`).
    pub rows_are: &'static str,
}

/// A Parquet table of the points of an ROC curve, in drawing order (from
/// (0, 0) to (1, 1)): the report draws it, with the area under it, for a
/// stage that runs once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RocCurve {
    /// File name of the table in the kind's output directory.
    pub table: &'static str,
    /// Column of false-positive rates (the x axis).
    pub false_positive_column: &'static str,
    /// Column of true-positive rates (the y axis).
    pub true_positive_column: &'static str,
    /// Whose curve it is, as the chart's title names it (`the submission`).
    pub of: &'static str,
}

/// A Parquet reliability table, one row per probability bin: the report
/// draws the observed rate against the mean predicted probability of every
/// non-empty bin, beside the diagonal of perfect calibration, for a stage
/// that runs once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reliability {
    /// File name of the table in the kind's output directory.
    pub table: &'static str,
    /// Column of the bin's mean predicted probability (the x axis).
    pub predicted_column: &'static str,
    /// Column of the bin's observed positive rate (the y axis).
    pub observed_column: &'static str,
    /// Column of the bin's row count (a bin with none is not drawn).
    pub count_column: &'static str,
    /// What a row is, in the plural, as the chart's title counts them (`patients`).
    pub rows_are: &'static str,
}

/// A kind of stage: what it accepts and how it computes.
pub trait StageKind: Send + Sync {
    /// The name used as `kind:` in pipeline files.
    fn name(&self) -> &'static str;
    /// Bumped whenever a change to the code changes what the kind computes;
    /// part of every key, so old cache entries stop matching.
    fn version(&self) -> u32;
    /// One line describing the kind.
    fn doc(&self) -> &'static str;
    /// The parameters the kind declares.
    fn params(&self) -> Vec<ParamSpec>;
    /// Whether parameters beyond the declared ones are allowed (scalars only).
    fn open_params(&self) -> bool {
        false
    }
    /// Whether one instance wants every core (the executor then runs it alone).
    fn wants_all_cores(&self) -> bool {
        false
    }
    /// Whether the kind's work runs in programs it starts, each in a process
    /// group of its own, rather than in its own code. The engine runs the
    /// other kinds in a child process, so that one that dies (an abort, a
    /// crash) ends only that process; these it runs directly.
    fn works_through_programs(&self) -> bool {
        false
    }
    /// The output table whose rows name the cache entries they came from, if
    /// the kind writes one; `lungflow lineage` starts from its rows.
    fn row_provenance(&self) -> Option<RowProvenance> {
        None
    }
    /// What the report shows of the kind's outputs beyond what it shows of
    /// every kind; nothing more by default.
    fn report_view(&self) -> ReportView {
        ReportView::default()
    }
    /// Computes the outputs into `ctx.out_dir`.
    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError>;
}
