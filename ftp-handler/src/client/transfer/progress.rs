//! The progress bar of one transfer (bytes done and total, rate, ETA), drawn on standard error
//! only when it is a terminal; scripts get a one-line summary instead.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bar layout when the total size is known.
const BAR_TEMPLATE: &str =
    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";

/// Layout when the server did not say how big the file is.
const SPINNER_TEMPLATE: &str = "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}";

/// How often the bar may redraw.
const REFRESH_HZ: u8 = 10;

/// Progress of one transfer: a terminal bar, or nothing.
pub struct Progress {
    /// The bar, absent when output is not a terminal.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a bar labelled `label` at `offset` (a resumed transfer) of `total` bytes.
    pub fn start(enabled: bool, label: &str, offset: u64, total: Option<u64>) -> Progress {
        if !enabled {
            return Progress { bar: None };
        }
        let template = if total.is_some() {
            BAR_TEMPLATE
        } else {
            SPINNER_TEMPLATE
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(REFRESH_HZ))
                .with_style(style)
                .with_message(label.to_string())
                .with_position(offset);
        bar.reset_eta();
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar: Some(bar) }
    }

    /// Whether a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Counts `bytes` more as done.
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Leaves the completed bar on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish();
            end_line(bar);
        }
    }

    /// Leaves the bar where the transfer stopped.
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.abandon();
            end_line(bar);
        }
    }
}

/// indicatif leaves the cursor after the last bar: what follows starts on a new line.
fn end_line(bar: &ProgressBar) {
    if !bar.is_hidden() {
        let _ = std::io::stderr().write_all(b"\n");
    }
}

impl Drop for Progress {
    /// A bar dropped by an early return stays visible where it stopped.
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_progress_draws_nothing() {
        let progress = Progress::start(false, "x", 0, Some(10));
        progress.advance(5);
        progress.finish();
        assert!(!progress.is_drawn());
    }
}
