//! A spinner on the terminal while a command runs long (a clear or a cull of a big location),
//! counting the requests sent. Nothing shows when standard output is not a terminal, or when the
//! command ends within half a second.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use s3cache_runtime::Runtime;

/// How long a command runs before the spinner appears.
const QUIET_FOR: Duration = Duration::from_millis(500);

/// The spinner of one command; it goes when dropped.
pub struct Progress {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts watching the requests `runtime` sends.
    pub fn start(runtime: &Runtime) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
            return Progress { bar, ticker: None };
        }
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let counter = runtime.request_counter();
        let first = counter.load(Ordering::Relaxed);
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            tokio::time::sleep(QUIET_FOR).await;
            shown.set_draw_target(ProgressDrawTarget::stderr());
            loop {
                let sent = counter.load(Ordering::Relaxed) - first;
                shown.set_message(format!("{sent} S3 requests"));
                shown.tick();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress {
            bar,
            ticker: Some(ticker),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}
