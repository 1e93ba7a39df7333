//! `[metrics]` settings: the Prometheus exporter and its health endpoints.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[metrics]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the HTTP listener for `/metrics`, `/healthz` and `/readyz`; unset (the
    /// default): no exporter.
    pub listen: Option<SocketAddr>,
    /// Whether `/metrics` also reports each user's quota usage (one series per user: off by
    /// default).
    pub per_user_quota: bool,
}
