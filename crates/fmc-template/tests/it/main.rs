//! Tests of fmc-template's public API.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use fmc_core::{Map, Value};
use fmc_template::{Templar, Vars};
use serde_json::json;

mod backslashes;
mod chained;
mod errors;
mod filters;
mod filters_more;
mod jinja_tests;
mod lazy;
mod lookups;
mod never_panics;
mod render;

/// A `Vars` with one "play" layer holding `j` (an object).
pub fn vars(j: Value) -> Vars {
    let mut v = Vars::new();
    v.push("play", layer(j));
    v
}

pub fn layer(j: Value) -> Arc<Map> {
    match j {
        Value::Object(m) => Arc::new(m),
        other => panic!("not an object: {other}"),
    }
}

/// Renders `t` as text with `v`.
pub fn render(t: &str, v: &Vars) -> String {
    match Templar::new().render_str(t, v) {
        Ok(s) => s,
        Err(e) => panic!("rendering {t:?} failed: {e}"),
    }
}

/// Renders `t` with no variables.
pub fn r(t: &str) -> String {
    render(t, &Vars::new())
}

/// Evaluates an expression with `v`.
pub fn eval(e: &str, v: &Vars) -> Value {
    match Templar::new().eval_expr(e, v) {
        Ok(x) => x,
        Err(err) => panic!("evaluating {e:?} failed: {err}"),
    }
}

/// Evaluates an expression with no variables.
pub fn ev(e: &str) -> Value {
    eval(e, &Vars::new())
}

/// The error of rendering `t` with `v`.
pub fn render_err(t: &str, v: &Vars) -> fmc_template::TemplateError {
    match Templar::new().render_str(t, v) {
        Ok(s) => panic!("rendering {t:?} unexpectedly gave {s:?}"),
        Err(e) => e,
    }
}

#[test]
fn smoke() {
    let v = vars(json!({"name": "web", "port": 80}));
    assert_eq!(render("{{ name }}:{{ port }}", &v), "web:80");
}
