//! Date filters: `to_datetime` (Python's `strptime`) and `strftime` (Python's
//! `time.strftime` on an epoch).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{Datelike, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use fmc_core::Value as Json;
use minijinja::value::{Kwargs, Object, ObjectRepr};
use minijinja::{Environment, Error, State, Value};

use super::{add, fail, json, param};

pub(super) fn register(env: &mut Environment<'static>) {
    add(env, "to_datetime", to_datetime);
    add(env, "strftime", strftime);
}

/// Python's format directives in chrono's spelling: `%f` is microseconds in Python.
fn chrono_format(fmt: &str) -> Result<String, Error> {
    let fmt = fmt.replace("%f", "%6f");
    if StrftimeItems::new(&fmt).any(|i| matches!(i, Item::Error)) {
        return Err(fail(format!("invalid date format '{fmt}'")));
    }
    Ok(fmt)
}

/// Formats with a checked format (chrono's `Display` fails on what it cannot write).
fn format_with<T: fmt::Display>(shown: T) -> Result<String, Error> {
    let mut out = String::new();
    write!(out, "{shown}").map_err(|_| fail("the date cannot be written in this format"))?;
    Ok(out)
}

/// A naive `datetime.datetime`: attributes `year`...`microsecond`, methods
/// `strftime(fmt)`, `isoformat()`, `timestamp()` (local time, as Python) and `weekday()`.
/// Shown as Python's `str()`: `2024-01-02 03:04:05`.
#[derive(Debug)]
struct DateTime(NaiveDateTime);

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.0;
        Some(Value::from(match key.as_str()? {
            "year" => d.year(),
            "month" => d.month() as i32,
            "day" => d.day() as i32,
            "hour" => d.hour() as i32,
            "minute" => d.minute() as i32,
            "second" => d.second() as i32,
            "microsecond" => (d.nanosecond() / 1000) as i32,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let d = &self.0;
        match (method, args) {
            ("strftime", [fmt]) => {
                let fmt = chrono_format(&fmt.to_string())?;
                format_with(d.format(&fmt)).map(Value::from)
            }
            ("isoformat", []) => format_with(d.format(iso_format(d))).map(Value::from),
            ("timestamp", []) => match Local.from_local_datetime(d).earliest() {
                Some(t) => Ok(Value::from(t.timestamp_micros() as f64 / 1e6)),
                None => Err(fail("the local time does not exist")),
            },
            ("weekday", []) => Ok(Value::from(d.weekday().num_days_from_monday())),
            _ => Err(fail(format!(
                "datetime has no method {method}() with {} argument(s)",
                args.len()
            ))),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pattern = if self.0.nanosecond() >= 1000 {
            "%Y-%m-%d %H:%M:%S%.6f"
        } else {
            "%Y-%m-%d %H:%M:%S"
        };
        write!(f, "{}", self.0.format(pattern))
    }
}

fn iso_format(d: &NaiveDateTime) -> &'static str {
    if d.nanosecond() >= 1000 {
        "%Y-%m-%dT%H:%M:%S%.6f"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    }
}

/// `'2024-01-02 03:04:05' | to_datetime(format='%Y-%m-%d %H:%M:%S')`: Python's `strptime`
/// (a format without a time gives midnight; without a date, 1900-01-01).
fn to_datetime(s: &str, format: Option<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let format = param(format, &kwargs, "format")?;
    kwargs.assert_all_used()?;
    let fmt = chrono_format(format.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S"))?;
    let parsed = NaiveDateTime::parse_from_str(s, &fmt)
        .or_else(|_| NaiveDate::parse_from_str(s, &fmt).map(|d| d.and_time(NaiveTime::MIN)))
        .or_else(|e| {
            NaiveTime::parse_from_str(s, &fmt)
                .map(|t| {
                    NaiveDate::from_ymd_opt(1900, 1, 1)
                        .unwrap_or_default()
                        .and_time(t)
                })
                .map_err(|_| e)
        })
        .map_err(|e| {
            fail(format!(
                "to_datetime: '{s}' does not match format '{}': {e}",
                format.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S")
            ))
        })?;
    Ok(Value::from_object(DateTime(parsed)))
}

/// `'%Y-%m-%d' | strftime(second=None, utc=False)`: the epoch `second` (now when not
/// given) in local time, or UTC, written with the format.
fn strftime(
    state: &State,
    fmt: &str,
    second: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let second = param(second, &kwargs, "second")?;
    let utc: Option<bool> = kwargs.get("utc")?;
    kwargs.assert_all_used()?;
    let fmt = chrono_format(fmt)?;
    let epoch = match &second {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(epoch_of(&json(state, v)?)?),
    };
    let now = Utc::now();
    let (secs, nanos) = match epoch {
        Some(f) => {
            let secs = f.floor();
            // Within chrono's range; anything else is an error below.
            (secs as i64, ((f - secs) * 1e9) as u32)
        }
        None => (now.timestamp(), now.timestamp_subsec_nanos()),
    };
    if utc.unwrap_or(false) {
        let t = Utc
            .timestamp_opt(secs, nanos)
            .single()
            .ok_or_else(|| fail("strftime: epoch value out of range"))?;
        format_with(t.format(&fmt))
    } else {
        let t = Local
            .timestamp_opt(secs, nanos)
            .single()
            .ok_or_else(|| fail("strftime: epoch value out of range"))?;
        format_with(t.format(&fmt))
    }
}

fn epoch_of(j: &Json) -> Result<f64, Error> {
    let f = match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    f.filter(|f| f.is_finite())
        .ok_or_else(|| fail(format!("strftime: invalid value for epoch value ({j})")))
}
