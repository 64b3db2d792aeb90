//! Examples of md used as a library; see `new_venue.rs` and `stream_trades.rs` beside this file.
