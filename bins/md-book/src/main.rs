//! md-book: one symbol's merged order book from md-serve, drawn as a live ladder.
//!
//! `md-book BTC-USDT [--addr http://127.0.0.1:9051] [--depth N] [--venues a,b] [--count N]`
//! (see `--help`). Exit codes: 0 after `--count` summaries or Ctrl-C, 1 when md-serve is
//! unreachable, does not know the symbol or ends the stream, 2 for bad flags.
#![forbid(unsafe_code)]

mod app;
mod cli;
mod render;
mod screen;

fn main() {
    let args = cli::parse();
    let code = match app::Settings::resolve(args).and_then(run) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("md-book: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(settings: app::Settings) -> Result<(), app::Error> {
    // One thread is plenty for one stream, and leaves the cores to the server beside it.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(app::run(settings))
}
