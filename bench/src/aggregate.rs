//! Combining the rounds of a run: each cell reports the median of its rounds, so a burst of
//! other load on the machine during one round does not decide the result.

use crate::plan::CellResult;

/// Error texts kept per combined cell.
const KEPT_ERRORS: usize = 5;

/// The median of some values (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

/// Groups the cells of every round by server and connection count (first-seen order) and
/// combines each group; a single round comes back unchanged apart from its sample list.
pub fn combine(cells: Vec<CellResult>) -> Vec<CellResult> {
    let mut groups: Vec<Vec<CellResult>> = Vec::new();
    for cell in cells {
        match groups
            .iter_mut()
            .find(|g| g[0].server == cell.server && g[0].connections == cell.connections)
        {
            Some(group) => group.push(cell),
            None => groups.push(vec![cell]),
        }
    }
    groups.into_iter().map(combine_group).collect()
}

fn combine_group(rounds: Vec<CellResult>) -> CellResult {
    let samples = rounds.iter().map(CellResult::sample).collect();
    let (measured, failed): (Vec<&CellResult>, Vec<&CellResult>) =
        rounds.iter().partition(|c| c.failure.is_none());
    let Some(&first) = measured.first() else {
        let mut cell = rounds[0].clone();
        cell.rounds = samples;
        return cell;
    };
    let values = |field: fn(&CellResult) -> Option<f64>| {
        median(measured.iter().filter_map(|c| field(c)).collect())
    };
    let mut cell = first.clone();
    cell.round_trips_per_sec = values(|c| Some(c.round_trips_per_sec)).unwrap_or(0.0);
    cell.p50_us = values(|c| c.p50_us);
    cell.p99_us = values(|c| c.p99_us);
    cell.max_us = measured.iter().filter_map(|c| c.max_us).reduce(f64::max);
    cell.server_cpu_us_per_rt = values(|c| c.server_cpu_us_per_rt);
    cell.generator_cpu_us_per_rt = values(|c| c.generator_cpu_us_per_rt);
    cell.round_trips = measured.iter().map(|c| c.round_trips).sum();
    cell.window_secs = measured.iter().map(|c| c.window_secs).sum();
    cell.connected = measured.iter().map(|c| c.connected).min().unwrap_or(0);
    cell.ready = measured.iter().map(|c| c.ready).min().unwrap_or(0);
    cell.served = measured.iter().map(|c| c.served).min().unwrap_or(0);
    cell.starved = measured.iter().map(|c| c.starved).max().unwrap_or(0);
    cell.ramp_secs = measured.iter().map(|c| c.ramp_secs).fold(0.0, f64::max);
    cell.connection_errors = measured.iter().map(|c| c.connection_errors).sum();
    cell.error_samples = failed
        .iter()
        .filter_map(|c| c.failure.as_ref().map(|f| format!("a round failed: {f}")))
        .chain(
            measured
                .iter()
                .flat_map(|c| c.error_samples.iter().cloned()),
        )
        .take(KEPT_ERRORS)
        .collect();
    cell.rounds = samples;
    cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    fn round(server: &str, rate: f64, cpu: f64, failure: Option<&str>) -> CellResult {
        CellResult {
            server: server.into(),
            connections: 10,
            connected: 10,
            ready: 10,
            ramp_secs: 0.3,
            served: 10,
            starved: 0,
            concurrency_cap: None,
            round_trips: (rate * 2.0) as u64,
            window_secs: 2.0,
            round_trips_per_sec: rate,
            p50_us: Some(50.0),
            p99_us: Some(rate / 1000.0),
            max_us: Some(rate / 100.0),
            server_cpu_us_per_rt: Some(cpu),
            generator_cpu_us_per_rt: Some(cpu),
            cpu_accounting: "cgroup".into(),
            connection_errors: 0,
            error_samples: Vec::new(),
            failure: failure.map(String::from),
            rounds: Vec::new(),
        }
    }

    #[test]
    fn a_cell_reports_the_median_of_its_rounds_and_keeps_each_round() {
        let cells = vec![
            round("a", 100.0, 7.0, None),
            round("b", 5.0, 1.0, None),
            round("a", 300.0, 9.0, None),
            round("a", 200.0, 30.0, None),
        ];
        let combined = combine(cells);
        assert_eq!(combined.len(), 2);
        let a = &combined[0];
        assert_eq!(a.server, "a");
        assert_eq!(a.round_trips_per_sec, 200.0);
        assert_eq!(a.server_cpu_us_per_rt, Some(9.0));
        assert_eq!(a.max_us, Some(3.0));
        assert_eq!(a.round_trips, 1200);
        assert_eq!(a.rounds.len(), 3);
        assert_eq!(combined[1].rounds.len(), 1);
    }

    #[test]
    fn failed_rounds_are_left_out_but_mentioned() {
        let cells = vec![
            round("a", 100.0, 7.0, Some("did not start")),
            round("a", 300.0, 9.0, None),
        ];
        let a = &combine(cells)[0];
        assert!(a.failure.is_none());
        assert_eq!(a.round_trips_per_sec, 300.0);
        assert_eq!(
            a.error_samples,
            vec!["a round failed: did not start".to_string()]
        );
        assert_eq!(a.rounds.len(), 2);

        let all_failed = combine(vec![round("a", 0.0, 0.0, Some("gone"))]);
        assert_eq!(all_failed[0].failure.as_deref(), Some("gone"));
    }
}
