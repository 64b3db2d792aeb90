//! md-replay: recorded raw frames through md's parsers, verified books and sinks, exactly as
//! live. `md-replay --capture DIR --data-dir OUT` (see `--help`). Exit codes: 0 when every packet
//! was stored, 1 when a sink lost data or failed, 2 for bad flags or config, 130 on a second
//! signal.
#![forbid(unsafe_code)]

use md_ingest::process;
use md_ingest::replay::{self, cli::ReplayArgs, settings::ReplaySettings};

fn main() {
    let args: ReplayArgs = process::parse_args("md-replay");
    let settings = ReplaySettings::resolve(args, replay::recorded_depth)
        .unwrap_or_else(|e| process::usage_exit("md-replay", e));
    process::init_logging();
    process::run_and_exit("md-replay", |cancel| replay::run(settings, cancel));
}
