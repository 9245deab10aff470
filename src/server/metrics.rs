//! Prometheus metrics in the text exposition format (version 0.0.4).
//!
//! Labels come only from fixed sets (route names, status codes, rejection reasons): never a
//! raw path, a header or a query value.

use crate::flow::Rejection;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::http::Status;

/// Upper bounds of the request-duration histogram: in microseconds, and as the `le` label
/// writes them in seconds. Integers throughout: no float formatting in the binary for this.
const BUCKETS: [(u64, &str); 12] = [
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    /// Microseconds.
    sum: u64,
}

/// One route's requests: the count per status (in the order of `Status::ALL`, by code), and
/// their durations.
#[derive(Default)]
struct RouteStats {
    by_status: [u64; Status::ALL.len()],
    durations: Histogram,
}

/// The entry of `key` in `list`, which is kept sorted by key (the exposition's order), made
/// when missing. A sorted small vector and fixed arrays instead of maps: a dozen routes at
/// most, and about 10 KB less in the static binary than three `BTreeMap`s.
fn slot<K: Copy + Ord, V: Default>(list: &mut Vec<(K, V)>, key: K) -> &mut V {
    let at = match list.iter().position(|(k, _)| *k >= key) {
        Some(at) if list[at].0 == key => at,
        Some(at) => {
            list.insert(at, (key, V::default()));
            at
        }
        None => {
            list.push((key, V::default()));
            list.len() - 1
        }
    };
    &mut list[at].1
}

/// The routes that hand out tokens, in the exposition's (sorted) order.
const SERVED_ROUTES: [&str; 4] = ["flow_form_post", "flow_paste", "flow_redirect", "token"];

#[derive(Default)]
pub(crate) struct Metrics {
    /// Per route, sorted by route.
    requests: Mutex<Vec<(&'static str, RouteStats)>>,
    /// Per route of [`SERVED_ROUTES`].
    tokens_served: [AtomicU64; SERVED_ROUTES.len()],
    rejections: [AtomicU64; 5],
    expiry_header_invalid: AtomicU64,
    audit_failures: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics::default()
    }

    pub(crate) fn observe_request(&self, route: &'static str, status: u16, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let stats = slot(&mut requests, route);
        if let Some(i) = Status::ALL.iter().position(|s| s.code() == status) {
            stats.by_status[i] += 1;
        }
        let histogram = &mut stats.durations;
        histogram.count += 1;
        histogram.sum = histogram.sum.saturating_add(micros);
        for (bucket, (bound, _)) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if micros <= bound {
                *bucket += 1;
            }
        }
    }

    /// Counts a token handed out at `route`, one of [`SERVED_ROUTES`].
    pub(crate) fn token_served(&self, route: &'static str) {
        let known = SERVED_ROUTES.iter().position(|r| *r == route);
        debug_assert!(known.is_some(), "{route} hands out no token");
        if let Some(i) = known {
            self.tokens_served[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An audit line that could not be written.
    pub(crate) fn audit_failed(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn flow_rejected(&self, reason: Rejection) {
        self.rejections[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an expiry header that was ignored as garbage; the count so far.
    pub(crate) fn expiry_header_invalid(&self) -> u64 {
        self.expiry_header_invalid.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP token2go_build_info Build information.\n");
        out.push_str("# TYPE token2go_build_info gauge\n");
        let _ = writeln!(
            out,
            "token2go_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        self.render_requests(&mut out);
        self.render_outcomes(&mut out);
        out
    }

    /// The per-route request counts and durations.
    fn render_requests(&self, out: &mut String) {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP token2go_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE token2go_http_requests_total counter\n");
        for (route, stats) in requests.iter() {
            for (status, n) in Status::ALL.iter().zip(stats.by_status) {
                if n == 0 {
                    continue;
                }
                let status = status.code();
                let _ = writeln!(
                    out,
                    "token2go_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP token2go_http_request_duration_seconds Time from complete request head to response written.\n");
        out.push_str("# TYPE token2go_http_request_duration_seconds histogram\n");
        for (route, stats) in requests.iter() {
            let h = &stats.durations;
            for ((_, bound), n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "token2go_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "token2go_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "token2go_http_request_duration_seconds_sum{{route=\"{route}\"}} {}.{:06}",
                h.sum / 1_000_000,
                h.sum % 1_000_000
            );
            let _ = writeln!(
                out,
                "token2go_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        drop(requests);
    }

    /// The tokens served, the flow's refusals and the two failure counters.
    fn render_outcomes(&self, out: &mut String) {
        out.push_str("# HELP token2go_tokens_served_total Tokens handed out, by route.\n");
        out.push_str("# TYPE token2go_tokens_served_total counter\n");
        for (route, n) in SERVED_ROUTES.iter().zip(&self.tokens_served) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(out, "token2go_tokens_served_total{{route=\"{route}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP token2go_flow_rejections_total Redirect-flow requests refused, by reason.\n",
        );
        out.push_str("# TYPE token2go_flow_rejections_total counter\n");
        for reason in Rejection::ALL {
            let n = self.rejections[reason as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "token2go_flow_rejections_total{{reason=\"{}\"}} {n}",
                reason.label()
            );
        }
        out.push_str(
            "# HELP token2go_expiry_header_invalid_total Invalid expiry headers ignored.\n",
        );
        out.push_str("# TYPE token2go_expiry_header_invalid_total counter\n");
        let _ = writeln!(
            out,
            "token2go_expiry_header_invalid_total {}",
            self.expiry_header_invalid.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP token2go_audit_write_failures_total Audit lines that could not be written.\n",
        );
        out.push_str("# TYPE token2go_audit_write_failures_total counter\n");
        let failures = self.audit_failures.load(Ordering::Relaxed);
        let _ = writeln!(out, "token2go_audit_write_failures_total {failures}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_tokens_and_rejections() {
        let m = Metrics::new();
        m.observe_request("token", 200, Duration::from_micros(300));
        m.observe_request("token", 200, Duration::from_millis(30));
        m.observe_request("token", 444, Duration::from_secs(5));
        m.token_served("token");
        m.flow_rejected(Rejection::Target);
        m.flow_rejected(Rejection::Target);
        assert_eq!(m.expiry_header_invalid(), 1);
        let text = m.render();
        assert!(text.contains("\ntoken2go_expiry_header_invalid_total 1\n"));
        assert!(text.contains("token2go_http_requests_total{route=\"token\",status=\"200\"} 2\n"));
        assert!(text.contains("token2go_http_requests_total{route=\"token\",status=\"444\"} 1\n"));
        assert!(text.contains(
            "token2go_http_request_duration_seconds_bucket{route=\"token\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "token2go_http_request_duration_seconds_bucket{route=\"token\",le=\"0.05\"} 2\n"
        ));
        assert!(text.contains(
            "token2go_http_request_duration_seconds_bucket{route=\"token\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains("token2go_http_request_duration_seconds_count{route=\"token\"} 3\n"));
        assert!(text.contains("token2go_tokens_served_total{route=\"token\"} 1\n"));
        assert!(text.contains("token2go_flow_rejections_total{reason=\"target\"} 2\n"));
        assert!(text.contains("token2go_flow_rejections_total{reason=\"no_token\"} 0\n"));
        assert!(text.contains("token2go_flow_rejections_total{reason=\"token_expired\"} 0\n"));
        assert!(text.contains("token2go_audit_write_failures_total 0\n"));
        assert!(text.contains("token2go_build_info{version=\""));
        // 300 µs + 30 ms + 5 s, in seconds with microseconds.
        assert!(
            text.contains("token2go_http_request_duration_seconds_sum{route=\"token\"} 5.030300\n")
        );
        assert!(text.contains("le=\"1\"} 2\n") && text.contains("le=\"2.5\"} 2\n"));
    }
}
