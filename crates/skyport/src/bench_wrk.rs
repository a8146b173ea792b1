//! Load from `wrk` for `skyport bench tap --load wrk`: the requests of a run written into a Lua
//! script whose `request()` hands them out in turn, and wrk's own figures read back.
//!
//! The service goals are stated for wrk's client (C, two threads, keep-alive connections),
//! which takes little of a two-core machine. The built-in client (reqwest, in the same process
//! as the server) shares the cores with the server it times, so its figures are lower by what
//! it costs itself; both are kept, and every figure says which client made it.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One request as wrk sends it.
pub struct WrkRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query string.
    pub path: String,
    /// An urlencoded form body (POST).
    pub body: Option<String>,
}

/// What a wrk run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkFigures {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub per_second: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Answers other than 2xx/3xx, and socket errors.
    pub errors: u64,
}

/// Whether `wrk` can be run.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
        .unwrap_or(false)
}

/// The Lua script that sends `requests` in turn (each of wrk's threads from its own offset),
/// each with `headers`.
pub fn script(requests: &[WrkRequest], headers: &[(&str, &str)]) -> String {
    let mut lua = String::from("local headers = {\n");
    for (name, value) in headers {
        // Spaced: "[[[" would open a long string.
        let _ = writeln!(lua, "  [ {} ] = {},", long_string(name), long_string(value));
    }
    lua.push_str("}\nlocal requests = {\n");
    for r in requests {
        // Long brackets need no escaping; a level of '=' the text cannot close keeps them so.
        let _ = writeln!(
            lua,
            "  {{{}, {}, {}}},",
            long_string(r.method),
            long_string(&r.path),
            r.body.as_deref().map_or("nil".to_string(), long_string)
        );
    }
    lua.push_str(
        r#"}
local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
for name, value in pairs(headers) do
  form[name] = value
end
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
local i = 0
function init(args)
  i = offset or 0
end
function request()
  i = i + 1
  local r = requests[(i % #requests) + 1]
  if r[3] then
    return wrk.format(r[1], r[2], form, r[3])
  end
  return wrk.format(r[1], r[2])
end
"#,
    );
    lua
}

/// `text` as a Lua long string, `[==[…]==]` with enough '=' that `text` cannot end it.
fn long_string(text: &str) -> String {
    // The closing bracket counts too: "a]" in [[…]] would end at "a]]".
    let closed = format!("{text}]");
    let mut level = 0;
    while closed.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}

/// Runs wrk (2 threads, `connections` keep-alive connections) against `base` for `seconds`,
/// sending `requests` in turn with `headers`; the script is written into `dir`.
pub fn measure(
    dir: &Path,
    base: &str,
    seconds: u64,
    connections: usize,
    requests: &[WrkRequest],
    headers: &[(&str, &str)],
) -> Result<WrkFigures> {
    let path = dir.join("bench-wrk.lua");
    std::fs::write(&path, script(requests, headers)).context("writing wrk's script")?;
    let output = Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{}", connections.max(2)))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&path)
        .arg(format!("{base}/"))
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

/// wrk's figures from its report (run with `--latency`).
pub fn parse(report: &str) -> Result<WrkFigures> {
    let mut figures = WrkFigures {
        requests: 0,
        per_second: f64::NAN,
        p50_ms: f64::NAN,
        p90_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: 0,
    };
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => figures.per_second = n.parse()?,
            [n, "requests", "in", ..] => figures.requests = n.parse()?,
            ["50%", t] => figures.p50_ms = milliseconds(t)?,
            ["90%", t] => figures.p90_ms = milliseconds(t)?,
            ["99%", t] => figures.p99_ms = milliseconds(t)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => figures.errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                for n in rest.iter().skip(1).step_by(2) {
                    figures.errors += n.trim_end_matches(',').parse::<u64>()?;
                }
            }
            _ => {}
        }
    }
    if figures.per_second.is_nan() || figures.p99_ms.is_nan() || figures.p50_ms.is_nan() {
        bail!("no request rate or latency distribution in wrk's report");
    }
    Ok(figures)
}

/// A wrk duration (`850.00us`, `1.20ms`, `2.01s`, `1.50m`) in milliseconds.
fn milliseconds(text: &str) -> Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {text}"))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse()?;
    Ok(match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        "h" => n * 3600e3,
        _ => bail!("unknown unit in {text}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as wrk 4.2 prints it with `--latency` (its layout, figures of our choosing).
    const REPORT: &str = "Running 5s test @ http://127.0.0.1:18251/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms    1.37ms  28.44ms   98.61%
    Req/Sec     2.02k   112.31     2.25k    72.00%
  Latency Distribution
     50%  850.00us
     75%    1.02ms
     90%    1.31ms
     99%    2.01s
  20127 requests in 5.01s, 640.62MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   4017.36
Transfer/sec:    127.87MB
";

    #[test]
    fn the_rate_the_percentiles_and_every_error_are_read() {
        let f = parse(REPORT).expect("parses");
        assert_eq!(f.requests, 20127);
        assert_eq!(f.per_second, 4017.36);
        assert_eq!(f.p50_ms, 0.85);
        assert_eq!(f.p90_ms, 1.31);
        assert!((f.p99_ms - 2010.0).abs() < 1e-9, "{}", f.p99_ms);
        assert_eq!(f.errors, 12);
    }

    #[test]
    fn a_report_without_figures_is_an_error() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn request_text_cannot_end_its_lua_string() {
        assert_eq!(long_string("a]]b"), "[=[a]]b]=]");
        assert_eq!(long_string("]=]x]]"), "[==[]=]x]]]==]");
        assert_eq!(long_string("a]"), "[=[a]]=]");
        let lua = script(
            &[WrkRequest {
                method: "POST",
                path: "/tap/sync".into(),
                body: Some("QUERY=SELECT%20*".into()),
            }],
            &[("Authorization", "Bearer x")],
        );
        assert!(lua.contains("{[[POST]], [[/tap/sync]], [[QUERY=SELECT%20*]]},"));
        assert!(lua.contains("  [ [[Authorization]] ] = [[Bearer x]],"));
    }
}
