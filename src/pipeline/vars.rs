//! Pipeline variables: `vars:` with `--set vars.NAME=VALUE` applied, and
//! `${NAME}` replaced in inputs, item `dir:` paths and other variables. A
//! variable may use others; a cycle among them is an error naming it, and no
//! text grows past [`MAX_EXPANDED_BYTES`] by substitution.

use std::collections::{BTreeMap, VecDeque};

use serde_saphyr::Spanned;

use crate::pipeline::model::{Loc, Override, VARS};

/// The longest text substitution may make (a path is at most 4 KiB on Linux).
pub const MAX_EXPANDED_BYTES: usize = 64 << 10;

/// The pipeline's `vars:` with `--set vars.NAME=VALUE` applied, each with the
/// variables it uses replaced, in dependency order.
pub(crate) fn resolve_vars(
    raw: &BTreeMap<String, Spanned<String>>,
    overrides: &[Override],
) -> Result<BTreeMap<String, String>, (Loc, String)> {
    let mut written: BTreeMap<&str, (String, Loc)> = raw.iter().map(|(k, v)| (k.as_str(), (v.value.clone(), Loc::of(v)))).collect();
    for o in overrides.iter().filter(|o| o.stage == VARS) {
        let Some(entry) = written.get_mut(o.param.as_str()) else {
            let known: Vec<&String> = raw.keys().collect();
            let message = format!("--set {VARS}.{}: the pipeline has no variable {:?} (vars: {known:?})", o.param, o.param);
            return Err((Loc::default(), message));
        };
        *entry = (lungflow_stages::params::scalar_text(&o.value), Loc::default());
    }
    let mut uses: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&name, (text, loc)) in &written {
        let used = var_names(text).map_err(|e| (*loc, format!("variable {name:?}: {e}")))?;
        if let Some(unknown) = used.iter().find(|u| !written.contains_key(*u)) {
            let known: Vec<&&str> = written.keys().collect();
            return Err((*loc, format!("variable {name:?}: no variable {unknown:?} (vars: {known:?})")));
        }
        uses.insert(name, used);
    }
    expand_in_order(&written, &uses)
}

/// Expands every variable after the ones it uses (Kahn's algorithm); what is
/// left over lies on or behind a cycle.
fn expand_in_order(
    written: &BTreeMap<&str, (String, Loc)>,
    uses: &BTreeMap<&str, Vec<&str>>,
) -> Result<BTreeMap<String, String>, (Loc, String)> {
    let mut waiting: BTreeMap<&str, usize> = uses.iter().map(|(n, u)| (*n, u.len())).collect();
    let mut users: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&name, used) in uses {
        for &u in used {
            users.entry(u).or_default().push(name);
        }
    }
    let mut ready: VecDeque<&str> = waiting.iter().filter(|(_, n)| **n == 0).map(|(v, _)| *v).collect();
    let mut done = BTreeMap::new();
    while let Some(name) = ready.pop_front() {
        let (text, loc) = &written[name];
        let value = substitute(text, &done).map_err(|e| (*loc, format!("variable {name:?}: {e}")))?;
        done.insert(name.to_owned(), value);
        for &user in users.get(name).into_iter().flatten() {
            let left = waiting.get_mut(user).expect("every user is a variable");
            *left -= 1;
            if *left == 0 {
                ready.push_back(user);
            }
        }
    }
    match waiting.keys().find(|n| !done.contains_key(**n)) {
        None => Ok(done),
        Some(start) => Err(cycle_from(start, written, uses, &done)),
    }
}

/// The cycle reached from `start`, a variable that could not be expanded:
/// follow its first unexpanded use until a variable repeats.
fn cycle_from(
    start: &str,
    written: &BTreeMap<&str, (String, Loc)>,
    uses: &BTreeMap<&str, Vec<&str>>,
    done: &BTreeMap<String, String>,
) -> (Loc, String) {
    let mut path = vec![start];
    loop {
        let last = path[path.len() - 1];
        let next = uses[last].iter().copied().find(|u| !done.contains_key(*u)).expect("an unexpanded variable waits for another");
        if let Some(at) = path.iter().position(|n| *n == next) {
            let names: Vec<&str> = path[at..].iter().copied().chain([next]).collect();
            return (written[next].1, format!("the variables form a cycle: {}", names.join(" -> ")));
        }
        path.push(next);
    }
}

/// The names of the variables a text uses, each once, in order.
fn var_names(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed `${{` in {text:?}"))? + start;
        let name = &rest[start + 2..end];
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &rest[end + 1..];
    }
    Ok(names)
}

/// Replaces every `${NAME}` in `text` with the variable's value.
pub(crate) fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len().min(MAX_EXPANDED_BYTES));
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed `${{` in {text:?}"))? + start;
        let name = &rest[start + 2..end];
        let value = vars.get(name).ok_or_else(|| {
            let known: Vec<&String> = vars.keys().collect();
            format!("no variable {name:?} (vars: {known:?})")
        })?;
        if out.len() + value.len() > MAX_EXPANDED_BYTES {
            return Err(format!("substituting ${{{name}}} makes the text longer than {MAX_EXPANDED_BYTES} bytes"));
        }
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Result<BTreeMap<String, String>, (Loc, String)> {
        let raw: BTreeMap<String, Spanned<String>> = serde_saphyr::from_str(text).unwrap();
        resolve_vars(&raw, &[])
    }

    #[test]
    fn a_variable_may_use_others_in_any_order() {
        let v = vars("top: \"${root}/stage1\"\nroot: \"${base}/dsb\"\nbase: /data\n").unwrap();
        assert_eq!(v["top"], "/data/dsb/stage1");
        assert_eq!(v["root"], "/data/dsb");
    }

    #[test]
    fn a_cycle_among_variables_is_named_where_it_closes() {
        let (loc, e) = vars("a: \"${b}\"\nb: \"x/${c}\"\nc: \"${a}\"\n").unwrap_err();
        assert_eq!((loc.line, e.as_str()), (1, "the variables form a cycle: a -> b -> c -> a"));
        let (loc, e) = vars("ok: fine\nself: \"${self}/x\"\n").unwrap_err();
        assert_eq!((loc.line, e.as_str()), (2, "the variables form a cycle: self -> self"));
        let (_, e) = vars("a: \"${nope}\"\n").unwrap_err();
        assert_eq!(e, "variable \"a\": no variable \"nope\" (vars: [\"a\"])");
    }

    #[test]
    fn doubling_variables_stop_at_the_cap_instead_of_growing_without_end() {
        let mut text = String::from("v0: xxxxxxxxxxxxxxxx\n");
        for i in 1..64 {
            text.push_str(&format!("v{i}: \"${{v{p}}}${{v{p}}}\"\n", p = i - 1));
        }
        let (_, e) = vars(&text).unwrap_err();
        assert!(e.contains(&format!("longer than {MAX_EXPANDED_BYTES} bytes")), "{e}");
    }
}
