//! The `command` kind: runs a user's program (DVC's `cmd`).
//!
//! The command line is a template: `{out}`, `{item}`, `{inputs.NAME}` and
//! `{params.NAME}` are replaced by shell-quoted values (`{{` and `}}` give
//! literal braces). The same values are in the environment as `LF_OUT`,
//! `LF_ITEM`, `LF_INPUT_<NAME>` and `LF_PARAM_<NAME>`. The program runs under
//! `sh -c` in the work directory, with stdout and stderr going to the log.
//!
//! Each command runs in a process group of its own, registered in
//! [`crate::process_groups`] while it runs, so that an interrupted run can
//! stop it and everything it started; the process's [`crate::watchdog`] kills the group
//! if lungflow itself dies, kill -9 included.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::{Command as Process, ExitStatus, Stdio};

use crate::logs::{log_tail, quote, shorten};
use crate::params::scalar_text;
use crate::params::template::{Piece, pieces};
use crate::process_groups;
use crate::supervised::{self, StartError};
use crate::{Input, ParamSpec, RunContext, StageError, StageKind, kind_params};

kind_params! {
    /// The declared parameters of `command`; any other scalar parameter is
    /// passed to the command as `{params.NAME}` and `LF_PARAM_NAME`.
    pub struct Params {
        /// command template run with sh -c: {out}, {item}, {inputs.NAME}, {params.NAME}
        #[check(crate::params::template::check)]
        cmd: String,
        /// paths relative to {out} that the command must create
        outputs: Vec<String> = Vec::<String>::new(),
    }
}

/// Runs a shell command with declared inputs and outputs.
pub struct Command;

/// How many lines of the log an error message quotes.
const LOG_TAIL_LINES: usize = 15;

impl StageKind for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "runs a shell command template; any extra scalar parameter is passed to it"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn open_params(&self) -> bool {
        true
    }

    fn works_through_programs(&self) -> bool {
        true
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        if let Some(bad) = p.outputs.iter().find(|rel| !inside_out(rel)) {
            return Err(StageError(format!(
                "declared output {} must be a relative path inside {{out}} (no `..`, `.`, empty parts or leading `/`)",
                quote(bad)
            )));
        }
        let line = render_template(&p.cmd, ctx)?;
        let status = run_line(&line, ctx)?;
        if !status.success() {
            let tail = log_tail(ctx.log_path, LOG_TAIL_LINES);
            return Err(StageError(format!(
                "command {} failed ({status}){}",
                quote(&line),
                if tail.is_empty() { String::new() } else { format!("; last lines of its output:\n{}", shorten(&tail)) }
            )));
        }
        let missing: Vec<String> = p.outputs.into_iter().filter(|rel| !ctx.out_dir.join(rel).exists()).collect();
        if !missing.is_empty() {
            let missing = missing.join(", ");
            return Err(StageError(format!(
                "command {} succeeded but did not create its declared outputs: {}",
                quote(&line),
                shorten(&missing)
            )));
        }
        Ok(())
    }
}

/// Runs `sh -c line` supervised ([`crate::supervised`]: its own process
/// group, registered for interrupts, watched by the process's watchdog) and
/// waits for it. If the process is being interrupted when the command ends,
/// this never returns: the engine exits the process, and no failure is
/// recorded for a command it stopped itself.
fn run_line(line: &str, ctx: &RunContext<'_>) -> Result<ExitStatus, StageError> {
    let log = File::create(ctx.log_path).map_err(|e| StageError(format!("cannot create log {}: {e}", ctx.log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| StageError(format!("cannot share log {}: {e}", ctx.log_path.display())))?;
    let mut process = Process::new("sh");
    process.arg("-c").arg(line).current_dir(ctx.work_dir).stdin(Stdio::null()).stdout(log).stderr(log_err).envs(environment(ctx));
    let label = process_groups::current_label().unwrap_or_else(|| fallback_label(line, ctx.item));
    let child = supervised::start(process, &label).map_err(|e| match e {
        StartError::Spawn(e) => StageError(format!("cannot start sh for command {}: {}", quote(line), spawn_error(&e))),
        StartError::Watchdog(e) => StageError(format!("cannot start the watchdog process for command {}: {e}", quote(line))),
    })?;
    child.wait().map_err(|e| StageError(format!("cannot wait for command {}: {e}", quote(line))))
}

/// Why `sh` could not start, with what to do when the kernel refused the
/// command line and environment as too long (E2BIG).
fn spawn_error(e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(libc::E2BIG) {
        format!("{e}: the kernel takes at most 128 KiB in one argument or variable; pass long values in a file")
    } else {
        e.to_string()
    }
}

/// How a stop names a command when the engine gave no instance label.
fn fallback_label(line: &str, item: Option<&str>) -> String {
    let short: String = line.chars().take(40).collect();
    let more = if short.len() < line.len() { "..." } else { "" };
    match item {
        Some(item) => format!("{item} ({short}{more})"),
        None => format!("{short}{more}"),
    }
}

/// Whether a declared output names a path inside `{out}`.
fn inside_out(rel: &str) -> bool {
    !rel.is_empty() && rel.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The environment variables a command sees.
fn environment(ctx: &RunContext<'_>) -> Vec<(String, String)> {
    let mut env = vec![("LF_OUT".to_owned(), ctx.out_dir.display().to_string())];
    env.push(("LF_ITEM".to_owned(), ctx.item.unwrap_or("").to_owned()));
    for (name, input) in ctx.inputs {
        env.push((format!("LF_INPUT_{}", env_name(name)), input.path.display().to_string()));
    }
    for (name, value) in ctx.params {
        if name != "cmd" {
            env.push((format!("LF_PARAM_{}", env_name(name)), scalar_text(value)));
        }
    }
    env
}

/// An upper-case, underscore-only form of a name for environment variables.
fn env_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// Replaces placeholders in a command template with shell-quoted values.
///
/// A placeholder is `{name}` where name is made of letters, digits, `_`, `-`
/// and `.`; other braces (awk programs, shell `${VAR}`) are left as written,
/// and `{{`/`}}` give literal braces ([`crate::params::template::pieces`],
/// what the load-time check reads too).
pub fn render_template(template: &str, ctx: &RunContext<'_>) -> Result<String, StageError> {
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => out.push_str(&shell_quote(&placeholder_value(name, ctx.inputs, ctx)?)),
        }
    }
    Ok(out)
}

/// The text a placeholder stands for.
fn placeholder_value(name: &str, inputs: &BTreeMap<String, Input>, ctx: &RunContext<'_>) -> Result<String, StageError> {
    if name == "out" {
        return Ok(ctx.out_dir.display().to_string());
    }
    if name == "item" {
        return ctx.item.map(str::to_owned).ok_or_else(|| StageError("{item} used in a stage that does not run per item".into()));
    }
    if let Some(input) = name.strip_prefix("inputs.") {
        return inputs
            .get(input)
            .map(|i| i.path.display().to_string())
            .ok_or_else(|| StageError(format!("{}: the stage has no input named {}", shorten(&format!("{{{name}}}")), quote(input))));
    }
    if let Some(param) = name.strip_prefix("params.") {
        return ctx
            .params
            .get(param)
            .map(scalar_text)
            .ok_or_else(|| StageError(format!("{}: the stage has no parameter named {}", shorten(&format!("{{{name}}}")), quote(param))));
    }
    let shown = shorten(name);
    Err(StageError(format!("unknown placeholder {{{shown}}} (use {{out}}, {{item}}, {{inputs.NAME}} or {{params.NAME}})")))
}

/// Quotes a value for sh unless it is made only of safe characters.
fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe { value.to_owned() } else { format!("'{}'", value.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn with_ctx<T>(f: impl FnOnce(&RunContext<'_>) -> T) -> T {
        let mut params = BTreeMap::new();
        params.insert("scale".to_owned(), json!(2.5));
        params.insert("name".to_owned(), json!("it's"));
        let mut inputs = BTreeMap::new();
        inputs.insert("raw".to_owned(), Input { path: "/data/a b".into(), producers: Vec::new() });
        let ctx = RunContext {
            params: &params,
            inputs: &inputs,
            item: Some("p1"),
            out_dir: Path::new("/out"),
            log_path: Path::new("/out.log"),
            timings_path: Path::new("/timings.json"),
            work_dir: Path::new("/"),
            threads: 1,
        };
        f(&ctx)
    }

    #[test]
    fn declared_outputs_must_stay_inside_out() {
        for good in ["a.csv", "sub/b.txt"] {
            assert!(inside_out(good), "{good}");
        }
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "./a", "a//b"] {
            assert!(!inside_out(bad), "{bad}");
        }
    }

    #[test]
    fn template_substitutes_and_quotes() {
        let line = with_ctx(|ctx| render_template("cp {inputs.raw} {out}/{item}.txt --s {params.scale} {params.name} {{x}}", ctx)).unwrap();
        assert_eq!(line, "cp '/data/a b' /out/p1.txt --s 2.5 'it'\\''s' {x}");
    }

    #[test]
    fn template_rejects_unknown_placeholders() {
        let err = with_ctx(|ctx| render_template("echo {inputs.nope}", ctx)).unwrap_err();
        assert!(err.0.contains("no input named \"nope\""), "{err}");
        let err = with_ctx(|ctx| render_template("echo {what}", ctx)).unwrap_err();
        assert!(err.0.contains("unknown placeholder {what}"), "{err}");
    }

    #[test]
    fn template_leaves_awk_and_shell_braces_alone() {
        let line = with_ctx(|ctx| render_template("awk '{ s += $1 } END { print s }' ${HOME} {item} {", ctx)).unwrap();
        assert_eq!(line, "awk '{ s += $1 } END { print s }' ${HOME} p1 {");
    }
}
