//! The placeholders of a command template, cut into [`pieces`] once for both
//! `command`'s rendering and the load-time [`check`]: `{name}` where the name is made of
//! letters, digits, `_`, `-` and `.`; `{{` and `}}` give literal braces, and a
//! brace after `$` (the shell's `${VAR}`) or around anything else (an awk
//! program) is left as written. [`check`] finds at load time what rendering
//! would refuse at run time.

use serde_json::Value;

use crate::StageShape;

/// A piece of a template: text to write as it is, or a placeholder's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text written as it is (`{{` and `}}` come out as one brace).
    Text(&'a str),
    /// A placeholder's name (`out`, `item`, `inputs.x`, `params.lr`).
    Placeholder(&'a str),
}

/// `template` cut into the pieces `command` renders, in order.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        // A brace right after `$` is the shell's; a placeholder's rendering is
        // quoted and never ends with `$`, so the text before is what counts.
        let after_dollar = rest[..pos].ends_with('$');
        found.push(Piece::Text(&rest[..pos]));
        let tail = &rest[pos..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            found.push(Piece::Text(&tail[..1]));
            rest = &tail[2..];
            continue;
        }
        let name = tail[1..].split('}').next().filter(|_| tail.starts_with('{') && tail[1..].contains('}'));
        match name {
            Some(name) if !after_dollar && is_placeholder_name(name) => {
                found.push(Piece::Placeholder(name));
                rest = &tail[name.len() + 2..];
            }
            _ => {
                found.push(Piece::Text(&tail[..1]));
                rest = &tail[1..];
            }
        }
    }
    found.push(Piece::Text(rest));
    found.retain(|p| *p != Piece::Text(""));
    found
}

/// The placeholder names in `template`, in order (`out`, `item`, `inputs.x`, ...).
pub fn placeholders(template: &str) -> Vec<&str> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Whether `{name}` is a placeholder rather than literal text.
fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// Checks that every placeholder of a template names something the stage has:
/// an input, a parameter, `{out}`, or `{item}` in a stage that runs per item.
pub fn check(template: &Value, stage: &StageShape<'_>) -> Result<(), String> {
    let Some(text) = template.as_str() else { return Ok(()) }; // the type check reports it
    for name in placeholders(text) {
        let known = |what: &str, names: &[&str]| format!("{what}: {}", if names.is_empty() { "none".into() } else { names.join(", ") });
        if name == "out" || (name == "item" && stage.per_item) {
            continue;
        }
        if name == "item" {
            return Err("uses {item}, but the stage runs once (give it `foreach:` to run per item)".into());
        }
        if let Some(input) = name.strip_prefix("inputs.") {
            if !stage.inputs.contains(&input) {
                return Err(format!("uses {{{name}}}, but the stage has no input {input:?} ({})", known("inputs", &stage.inputs)));
            }
        } else if let Some(param) = name.strip_prefix("params.") {
            if !stage.params.contains(&param) {
                return Err(format!("uses {{{name}}}, but the stage has no parameter {param:?} ({})", known("parameters", &stage.params)));
            }
        } else {
            return Err(format!("uses {{{name}}}, which is not a placeholder (use {{out}}, {{item}}, {{inputs.NAME}} or {{params.NAME}})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_read_as_the_command_renders_them() {
        assert_eq!(placeholders("cp {inputs.x} {out}/y; echo {item} {params.lr}"), ["inputs.x", "out", "item", "params.lr"]);
        // Literal braces, shell variables, awk programs and unclosed braces are text.
        assert_eq!(placeholders("echo {{item}} ${HOME} $${x} awk '{print $1}' {"), Vec::<&str>::new());
        assert_eq!(placeholders("{{{out}}}"), ["out"]);
        assert_eq!(placeholders("a}{item}"), ["item"]);
        use Piece::{Placeholder as P, Text as T};
        assert_eq!(
            pieces("cp {{x}} {out}/y ${HOME}"),
            [T("cp "), T("{"), T("x"), T("}"), T(" "), P("out"), T("/y $"), T("{"), T("HOME"), T("}")]
        );
    }

    #[test]
    fn a_template_may_name_only_what_the_stage_has() {
        let once = StageShape { inputs: vec!["x"], params: vec!["cmd", "lr"], per_item: false };
        let per_item = StageShape { per_item: true, ..once.clone() };
        let ok = json!("cp {inputs.x} {out}/y --lr {params.lr} ${HOME} {{item}}");
        assert_eq!(check(&ok, &once), Ok(()));
        assert_eq!(check(&json!("echo {item}"), &per_item), Ok(()));
        let e = check(&json!("echo {item}"), &once).unwrap_err();
        assert_eq!(e, "uses {item}, but the stage runs once (give it `foreach:` to run per item)");
        let e = check(&json!("cat {inputs.nope}"), &once).unwrap_err();
        assert_eq!(e, "uses {inputs.nope}, but the stage has no input \"nope\" (inputs: x)");
        let e = check(&json!("echo {params.rate}"), &once).unwrap_err();
        assert_eq!(e, "uses {params.rate}, but the stage has no parameter \"rate\" (parameters: cmd, lr)");
        let e = check(&json!("echo {output}"), &once).unwrap_err();
        assert!(e.starts_with("uses {output}, which is not a placeholder"), "{e}");
        let none = StageShape { inputs: vec![], params: vec!["cmd"], per_item: false };
        assert_eq!(check(&json!("cat {inputs.a}"), &none).unwrap_err(), "uses {inputs.a}, but the stage has no input \"a\" (inputs: none)");
    }
}
