//! Request counters in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// A request in flight; decrements the gauge when dropped.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    in_flight: AtomicI64,
    previews_rendered: AtomicI64,
}

impl Metrics {
    /// Records a finished request on a route pattern with its status.
    pub fn record(&self, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((route.to_string(), status)).or_insert(0) += 1;
        }
    }

    /// Counts a request as in flight until the returned guard is dropped, which also happens
    /// when the handler panics.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Counts a preview rendered from its image (not served from the cache).
    pub fn preview_rendered(&self) {
        self.previews_rendered.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text. `images` is the number of images in the archive.
    pub fn render(&self, images: Option<u64>) -> String {
        let mut s = String::from(
            "# HELP skyport_http_requests_total HTTP requests served, by route and status.\n\
             # TYPE skyport_http_requests_total counter\n",
        );
        if let Ok(map) = self.requests.lock() {
            for ((route, status), n) in map.iter() {
                let route = route.replace('\\', "\\\\").replace('"', "\\\"");
                s.push_str(&format!(
                    "skyport_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        s.push_str("# HELP skyport_http_requests_in_flight Requests being served.\n# TYPE skyport_http_requests_in_flight gauge\n");
        s.push_str(&format!(
            "skyport_http_requests_in_flight {}\n",
            self.in_flight.load(Ordering::Relaxed)
        ));
        s.push_str("# HELP skyport_previews_rendered_total Previews rendered from their images.\n# TYPE skyport_previews_rendered_total counter\n");
        s.push_str(&format!(
            "skyport_previews_rendered_total {}\n",
            self.previews_rendered.load(Ordering::Relaxed)
        ));
        if let Some(n) = images {
            s.push_str("# HELP skyport_archive_images Images in the archive.\n# TYPE skyport_archive_images gauge\n");
            s.push_str(&format!("skyport_archive_images {n}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_returns_to_zero_even_when_a_handler_panics() {
        let m = Metrics::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = m.start_request();
            assert!(m.render(None).contains("skyport_http_requests_in_flight 1"));
            panic!("handler bug");
        }));
        assert!(r.is_err());
        assert!(
            m.render(None).contains("skyport_http_requests_in_flight 0"),
            "{}",
            m.render(None)
        );
    }
}
