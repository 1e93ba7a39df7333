//! End-to-end tests across the workspace's crates; the tests are in `fleet/` (`cargo test -p
//! wharf-e2e`), and this library is empty.
