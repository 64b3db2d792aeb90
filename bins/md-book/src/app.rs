//! The run: settings from the flags, the gRPC stream, one frame per summary until Ctrl-C,
//! `--count` or a failure.

use std::io::IsTerminal;
use std::time::Duration;

use md_proto::orderbook::aggregator_client::AggregatorClient;
use md_proto::orderbook::{Request, Summary};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::Streaming;

use crate::cli::Args;
use crate::render::{self, Skips};
use crate::screen::Screen;

/// How long md-book waits for md-serve to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why md-book stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No connection to md-serve.
    #[error("cannot reach md-serve at {addr}: {}", chain(.source))]
    Connect {
        /// The address tried.
        addr: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server does not know the symbol.
    #[error("{symbol}: not found at md-serve: {}", .status.message())]
    NotFound {
        /// The symbol asked for.
        symbol: String,
        /// The server's answer.
        status: tonic::Status,
    },
    /// Any other refusal or failure of the stream.
    #[error("md-serve: {:?}: {}", .0.code(), .0.message())]
    Status(tonic::Status),
    /// The server closed the stream.
    #[error("md-serve ended the stream of {0}")]
    Ended(String),
    /// The terminal or pipe could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// No handler for SIGINT/SIGTERM could be installed.
    #[error("cannot listen for Ctrl-C: {0}")]
    Signals(#[source] std::io::Error),
}

impl Error {
    /// The process exit code: 2 for bad settings, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// An error with its sources, `outer: inner: ...` (tonic's "transport error" alone says
/// nothing).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut last = text.clone();
    while let Some(e) = source {
        // hyper repeats its message one level down ("tcp connect error: tcp connect error").
        let next = e.to_string();
        if next != last {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
        last = next;
    }
    text
}

/// What md-book was asked to do, checked.
#[derive(Debug)]
pub struct Settings {
    args: Args,
    token: Option<MetadataValue<Ascii>>,
    live: bool,
}

impl Settings {
    /// Checks the flags and reads the token (`--token-file`, else `MD_SERVE_TOKEN`).
    pub fn resolve(args: Args) -> Result<Self, Error> {
        let token = match &args.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Error::Usage(format!("--token-file {}: {e}", path.display())))?,
            ),
            None => std::env::var("MD_SERVE_TOKEN").ok(),
        };
        let token = match token.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(Error::Usage("the token (--token-file or MD_SERVE_TOKEN) is empty".into()))
            }
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                Error::Usage("the token holds characters an HTTP header cannot carry".into())
            })?),
        };
        let live = args.count.is_none() && std::io::stdout().is_terminal();
        Ok(Settings { args, token, live })
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, listened for from the start so that neither kills md-book
/// with the terminal still in the alternate screen.
struct Interrupts(Signal, Signal);

impl Interrupts {
    fn listen() -> Result<Self, Error> {
        let listen = |kind| signal(kind).map_err(Error::Signals);
        Ok(Interrupts(listen(SignalKind::interrupt())?, listen(SignalKind::terminate())?))
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.0.recv() => {}
            _ = self.1.recv() => {}
        }
    }
}

/// Runs until Ctrl-C or `--count` summaries (Ok), or a failure.
pub async fn run(settings: Settings) -> Result<(), Error> {
    let mut interrupts = Interrupts::listen()?;
    let mut screen = Screen::new(settings.live)?;
    if settings.live {
        screen.draw(&[format!(
            "md-book: connecting to {} for {} ...",
            settings.args.addr, settings.args.symbol
        )])?;
    }
    let mut stream = tokio::select! {
        stream = open(&settings) => stream?,
        () = interrupts.recv() => return Ok(()),
    };
    let mut skips = Skips::default();
    let mut shown = 0u64;
    loop {
        let next = tokio::select! {
            next = stream.message() => next,
            () = interrupts.recv() => return Ok(()),
        };
        let summary = match next {
            Ok(Some(summary)) => summary,
            Ok(None) => return Err(Error::Ended(settings.args.symbol.clone())),
            Err(status) => return Err(refusal(&settings, status)),
        };
        show(&mut screen, &summary, skips.observe(summary.sequence))?;
        shown += 1;
        if settings.args.count == Some(shown) {
            return Ok(());
        }
    }
}

fn show(screen: &mut Screen, summary: &Summary, skipped: u64) -> Result<(), Error> {
    let mut lines = render::lines(summary, skipped, screen.style());
    if let Screen::Live(_) = screen {
        lines.push(String::new());
        lines.push("Ctrl-C quits".into());
    }
    match screen.draw(&lines) {
        // The reader of the pipe has gone (`md-book ... | head`): nothing more to do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Connects and opens the symbol's stream.
async fn open(settings: &Settings) -> Result<Streaming<Summary>, Error> {
    let args = &settings.args;
    let connect_error = |source| Error::Connect { addr: args.addr.clone(), source };
    let endpoint = tonic::transport::Endpoint::from_shared(args.addr.clone()).map_err(connect_error)?;
    let channel = endpoint.connect_timeout(CONNECT_TIMEOUT).connect().await.map_err(connect_error)?;
    let mut request = tonic::Request::new(Request {
        symbol: args.symbol.clone(),
        depth: args.depth,
        venues: args.venues.clone().map(|v| v.0).unwrap_or_default(),
    });
    if let Some(token) = &settings.token {
        request.metadata_mut().insert("authorization", token.clone());
    }
    let response = AggregatorClient::new(channel).book_summary(request).await;
    response.map(tonic::Response::into_inner).map_err(|status| refusal(settings, status))
}

fn refusal(settings: &Settings, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::NotFound {
        Error::NotFound { symbol: settings.args.symbol.clone(), status }
    } else {
        Error::Status(status)
    }
}
