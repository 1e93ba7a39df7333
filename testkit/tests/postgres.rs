//! The PostgreSQL fixture itself: a cluster starts, answers with password authentication,
//! survives a stop and restart with its data, and is gone after drop.

use wharf_testkit::postgres::PgCluster;

#[test]
fn a_cluster_starts_keeps_its_data_across_a_restart_and_stops_on_drop() {
    let mut cluster = PgCluster::start();
    cluster.create_database("fixture");
    cluster.psql(
        "fixture",
        "CREATE TABLE t (v int); INSERT INTO t VALUES (42)",
    );
    cluster.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port())).is_err());
    cluster.restart();
    assert_eq!(cluster.psql("fixture", "SELECT v FROM t"), "42");
    let port = cluster.port();
    drop(cluster);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped on drop"
    );
}
