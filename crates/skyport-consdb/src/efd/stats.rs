//! The summary functions, on the samples one column selected for one interval.
//!
//! A column may read several fields: the statistics then run over every value of every
//! selected row (row by row, as Rubin's transformer flattens them), a polynomial is fitted
//! to each field and the RMS taken over all residuals, and `most_recent_value` is the first
//! field of the last row. Rows are selected by the caller: time-ordered, and no field NaN.
//! No samples, or too few for the function, give `None` (NULL), never 0.

use super::config::{At, FitBasis, Function};

/// The samples of one column in one interval.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    /// Sample times (ns), ascending, one per row of every field.
    pub times: &'a [i64],
    /// The fields' values, each as long as `times`.
    pub fields: &'a [&'a [f64]],
    /// The rows selected, ascending.
    pub rows: &'a [usize],
}

impl Samples<'_> {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.rows
            .iter()
            .flat_map(move |&r| self.fields.iter().map(move |f| f[r]))
    }

    fn count(&self) -> usize {
        self.rows.len() * self.fields.len()
    }
}

/// `function` of the samples; `interval` (start, end, ns) places an interpolation.
pub fn apply(function: &Function, s: &Samples, interval: (i64, i64)) -> Option<f64> {
    if s.rows.is_empty() || s.fields.is_empty() {
        return None;
    }
    let n = s.count() as f64;
    match function {
        Function::Mean => Some(kahan(s.values()) / n),
        Function::Min => s.values().reduce(f64::min),
        Function::Max => s.values().reduce(f64::max),
        Function::Median => {
            let mut v: Vec<f64> = s.values().collect();
            v.sort_by(f64::total_cmp);
            let mid = v.len() / 2;
            Some(if v.len() % 2 == 1 {
                v[mid]
            } else {
                (v[mid - 1] + v[mid]) / 2.0
            })
        }
        Function::Stddev { ddof } => {
            if s.count() <= *ddof as usize {
                return None;
            }
            let mean = kahan(s.values()) / n;
            let ss = kahan(s.values().map(|x| (x - mean) * (x - mean)));
            Some((ss / (n - f64::from(*ddof))).sqrt())
        }
        Function::MostRecentValue => s.rows.last().map(|&r| s.fields[0][r]),
        Function::RmsFromPolynomialFit { degree, basis } => {
            rms_from_polynomial_fit(s, *degree as usize, *basis)
        }
        Function::Interpolated { at, max_gap_s } => interpolate(s, *at, *max_gap_s, interval),
    }
}

/// Compensated sum (the statistics of long 100 Hz series stay exact to the last digits).
fn kahan(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        let y = v - c;
        let t = sum + y;
        c = (t - sum) - y;
        sum = t;
    }
    sum
}

/// The RMS of the residuals of a least-squares polynomial of `degree` fitted to each field
/// against the sample index or time; `None` with no more samples than coefficients
/// (numpy.polyfit would give NaN).
fn rms_from_polynomial_fit(s: &Samples, degree: usize, basis: FitBasis) -> Option<f64> {
    let n = s.rows.len();
    if n <= degree {
        return None;
    }
    let x: Vec<f64> = match basis {
        FitBasis::Index => (0..n).map(|i| i as f64).collect(),
        FitBasis::Time => {
            let t0 = s.times[s.rows[0]];
            s.rows.iter().map(|&r| (s.times[r] - t0) as f64).collect()
        }
    };
    // Fitting against x mapped onto [-1, 1] spans the same polynomials (so gives the same
    // residuals) and keeps the Vandermonde matrix well conditioned.
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let half = ((hi - lo) / 2.0).max(f64::MIN_POSITIVE);
    let u: Vec<f64> = x.iter().map(|v| (v - lo) / half - 1.0).collect();
    let mut total = 0.0;
    for field in s.fields {
        let y: Vec<f64> = s.rows.iter().map(|&r| field[r]).collect();
        total += least_squares_residual_ss(&u, &y, degree + 1)?;
    }
    Some((total / s.count() as f64).sqrt())
}

/// Sum of squared residuals of the least-squares fit of `y` by polynomials in `u` with `m`
/// coefficients (Householder QR of the Vandermonde matrix).
fn least_squares_residual_ss(u: &[f64], y: &[f64], m: usize) -> Option<f64> {
    let n = u.len();
    // Column-major Vandermonde matrix.
    let mut a: Vec<Vec<f64>> = (0..m)
        .map(|j| u.iter().map(|x| x.powi(j as i32)).collect())
        .collect();
    let mut b = y.to_vec();
    for k in 0..m {
        let norm = a[k][k..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if a[k][k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = a[k][k..].to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv == 0.0 {
            continue;
        }
        let reflect = |col: &mut [f64]| {
            let dot: f64 = v.iter().zip(col.iter()).map(|(p, q)| p * q).sum();
            let f = 2.0 * dot / vv;
            for (c, p) in col.iter_mut().zip(&v) {
                *c -= f * p;
            }
        };
        for col in a.iter_mut().skip(k) {
            reflect(&mut col[k..]);
        }
        reflect(&mut b[k..]);
    }
    // After Qᵀ, the residual is the part of b below the first m rows.
    let ss: f64 = b[m.min(n)..].iter().map(|v| v * v).sum();
    ss.is_finite().then_some(ss)
}

/// The fields' mean value at a point of the interval, each linearly interpolated between
/// the last sample at or before it and the first at or after it; `None` when a side has no
/// sample or the two are more than `max_gap_s` apart.
fn interpolate(s: &Samples, at: At, max_gap_s: f64, (start, end): (i64, i64)) -> Option<f64> {
    let t = match at {
        At::Start => start,
        At::End => end,
        At::Middle => start + (end - start) / 2,
    };
    let after = s.rows.partition_point(|&r| s.times[r] < t);
    let right = *s.rows.get(after)?;
    if s.times[right] == t {
        return Some(kahan(s.fields.iter().map(|f| f[right])) / s.fields.len() as f64);
    }
    let left = *s.rows.get(after.checked_sub(1)?)?;
    let (t0, t1) = (s.times[left], s.times[right]);
    if (t1 - t0) as f64 > max_gap_s * 1e9 {
        return None;
    }
    let w = (t - t0) as f64 / (t1 - t0) as f64;
    let value = |f: &&[f64]| f[left] + w * (f[right] - f[left]);
    Some(kahan(s.fields.iter().map(value)) / s.fields.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(function: Function, times: &[i64], fields: &[&[f64]]) -> Option<f64> {
        let rows: Vec<usize> = (0..times.len()).collect();
        apply(
            &function,
            &Samples {
                times,
                fields,
                rows: &rows,
            },
            (
                times.first().copied().unwrap_or(0),
                times.last().copied().unwrap_or(0),
            ),
        )
    }

    #[test]
    fn statistics_of_several_fields_run_over_every_value() {
        let t = [0, 1, 2];
        let (a, b) = ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]);
        assert_eq!(run(Function::Mean, &t, &[&a, &b]), Some(11.0));
        assert_eq!(run(Function::Min, &t, &[&a, &b]), Some(1.0));
        assert_eq!(run(Function::Max, &t, &[&a, &b]), Some(30.0));
        assert_eq!(run(Function::Median, &t, &[&a, &b]), Some(6.5));
        assert_eq!(run(Function::MostRecentValue, &t, &[&a, &b]), Some(3.0));
        // numpy: np.std([1,10,2,20,3,30], ddof=1)
        let sd = run(Function::Stddev { ddof: 1 }, &t, &[&a, &b]).expect("sd");
        assert!((sd - 11.730302638892145).abs() < 1e-9, "{sd}");
    }

    #[test]
    fn too_few_samples_give_null() {
        assert_eq!(run(Function::Mean, &[], &[&[]]), None);
        assert_eq!(run(Function::Stddev { ddof: 1 }, &[5], &[&[1.0]]), None);
        let fit = Function::RmsFromPolynomialFit {
            degree: 4,
            basis: FitBasis::Index,
        };
        assert_eq!(
            run(fit.clone(), &[1, 2, 3, 4], &[&[1.0, 2.0, 3.0, 4.0]]),
            None
        );
        assert!(run(fit, &[1, 2, 3, 4, 5], &[&[1.0, 2.0, 3.0, 4.0, 9.0]]).is_some_and(|r| r < 1e-9));
    }

    #[test]
    fn a_polynomial_fit_removes_the_polynomial() {
        // y = 3 + 2x - x² exactly, plus ±1 alternating: degree 2 leaves RMS 1 (nearly: the
        // alternation is not quite orthogonal to the quadratic on an even count).
        let x: Vec<i64> = (0..1000).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&i| {
                let v = i as f64;
                3.0 + 2.0 * v - v * v + if i % 2 == 0 { 1.0 } else { -1.0 }
            })
            .collect();
        let rms = run(
            Function::RmsFromPolynomialFit {
                degree: 2,
                basis: FitBasis::Time,
            },
            &x,
            &[&y],
        )
        .expect("rms");
        assert!((rms - 1.0).abs() < 1e-3, "{rms}");
    }

    #[test]
    fn interpolation_needs_a_sample_on_each_side_within_the_gap() {
        let t = [0, 10_000_000_000, 20_000_000_000];
        let v = [0.0, 10.0, 30.0];
        let rows = [0, 1, 2];
        let s = Samples {
            times: &t,
            fields: &[&v],
            rows: &rows,
        };
        let f = |at, gap| Function::Interpolated { at, max_gap_s: gap };
        // Midpoint of [5 s, 15 s] = 10 s: a sample exactly there.
        assert_eq!(
            apply(&f(At::Middle, 60.0), &s, (5_000_000_000, 15_000_000_000)),
            Some(10.0)
        );
        assert_eq!(
            apply(&f(At::Start, 60.0), &s, (15_000_000_000, 16_000_000_000)),
            Some(20.0)
        );
        assert_eq!(
            apply(&f(At::Start, 5.0), &s, (15_000_000_000, 16_000_000_000)),
            None
        );
        assert_eq!(apply(&f(At::End, 60.0), &s, (0, 25_000_000_000)), None);
    }
}
