//! DALI intervals (`BAND`, `TIME` and the like): `lo hi`, with `-Inf`/`+Inf` for an open end,
//! or one number `v` meaning `[v, v]`.

use super::shapes::number;
use super::DaliError;

/// An interval `lo hi` or a single value; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound, `None` for -Inf.
    pub lo: Option<f64>,
    /// Upper bound, `None` for +Inf.
    pub hi: Option<f64>,
}

/// Parses a DALI interval value.
pub fn interval(param: &str, value: &str) -> Result<Interval, DaliError> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let (lo, hi) = match parts.as_slice() {
        [v] => {
            let x = number(param, v, false)?;
            (x, x)
        }
        [a, b] => (number(param, a, true)?, number(param, b, true)?),
        _ => {
            return Err(DaliError::usage(format!(
                "{param}={value:?} must be one number or two (lower and upper bound, -Inf/+Inf for an open end)"
            )))
        }
    };
    if lo > hi {
        return Err(DaliError::usage(format!(
            "{param}={value:?}: the lower bound is above the upper bound"
        )));
    }
    if lo == f64::INFINITY || hi == f64::NEG_INFINITY {
        return Err(DaliError::usage(format!(
            "{param}={value:?}: the interval is empty"
        )));
    }
    Ok(Interval {
        lo: lo.is_finite().then_some(lo),
        hi: hi.is_finite().then_some(hi),
    })
}
