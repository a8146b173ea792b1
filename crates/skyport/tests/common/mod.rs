//! Shared by the tests that run `skyport` processes against PostgreSQL: a small demo archive,
//! configs pointing at a database, and servers stopped when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A `skyport serve` process, killed on drop.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that does not follow redirects (UWS answers with 303s).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A client whose every request carries a skyport API token made with `skyport token create`
/// for the archive of `config` (user `tester`, `scopes`).
pub fn client_with_token(config: &Path, scopes: &str) -> reqwest::Client {
    let out = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args([
            "token", "create", "--user", "tester", "--scopes", scopes, "--config",
        ])
        .arg(config)
        .output()
        .expect("skyport token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The small demo archive (SQLite) in `dir/demo`, not served: a copy of one build made once per
/// test process. An unoptimised build takes 13 s and a copy well under one, and the archive's
/// paths are relative, so a copy is the same archive (tests/clients/test_links_after_move.py
/// moves one).
pub fn small_demo(dir: &Path) -> PathBuf {
    let demo = dir.join("demo");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(small_demo_template())
        .arg(&demo)
        .status()
        .expect("run cp");
    assert!(copied.success(), "cannot copy the demo archive");
    demo
}

/// The one build `small_demo` copies, made afresh by each test process in the target's
/// temporary directory (so that it is this binary's demo, and a crashed run leaves one behind,
/// not one per run).
fn small_demo_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let demo = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skyport-small-demo");
        if demo.exists() {
            std::fs::remove_dir_all(&demo).expect("remove the last run's demo");
        }
        let built = Command::new(env!("CARGO_BIN_EXE_skyport"))
            .args(["demo", "--small", "--build-only", "--dir"])
            .arg(&demo)
            .output()
            .expect("demo");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        demo
    })
}

/// The demo's config with its `sqlite = …` line replaced by `database` (the `[database]`
/// lines: `url = …` and more) and its own port; written as `<name>.toml` beside the demo's.
/// Returns the file and the server's base URL.
pub fn config(demo: &Path, name: &str, database: &str) -> (PathBuf, String) {
    let port = free_port();
    let text: String = std::fs::read_to_string(demo.join("skyport.toml"))
        .expect("demo config")
        .lines()
        .map(|l| {
            if l.starts_with("listen = ") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else if l.starts_with("sqlite = ") {
                database.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = demo.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    (path, format!("http://127.0.0.1:{port}"))
}

/// Runs `skyport ARGS…` and returns its output, failing the test when it fails.
pub fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(args)
        .output()
        .expect("run skyport");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "skyport {args:?}: {text}");
    text
}

/// Starts `skyport serve --config CONFIG` and waits until it answers.
pub async fn serve(config: &Path, base: String) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start skyport serve");
    let server = Server { child, base };
    let client = client();
    for _ in 0..300 {
        if let Ok(r) = client
            .get(format!("{}/tap/availability", server.base))
            .send()
            .await
        {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not come up", server.base)
}
