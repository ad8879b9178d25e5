//! The process's async runtime, and running a whole command on it.
//!
//! The binary calls [`crate::app::run_to_exit`] and
//! [`crate::replay::cli::run_to_exit`], which are not generic and not async:
//! `block_on` then polls the dashboard's and the tools' futures from inside
//! the library, so their (large) state machines are compiled once, here. When
//! main.rs called `block_on(app::run(..))` itself, the binary compiled them
//! again and a release build spent as long on main.rs as on the whole
//! library (bench/build-time/run).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `future` on a new multi-threaded runtime and returns its exit code;
/// blocking work left over (a consumer still leaving its group) gets one
/// second, so the exit keeps the 5 s promise. Generic, but only the two
/// non-generic `run_to_exit` functions of the library instantiate it.
pub(crate) fn block_on_to_exit(future: impl Future<Output = ExitCode>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kafka-pulse: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(future);
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
