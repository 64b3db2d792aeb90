//! Examples of md used as a library; see `new_venue.rs`, `custom_sink.rs` and `stream_trades.rs` beside this file.
