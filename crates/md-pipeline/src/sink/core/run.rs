//! [`SinkCore`]: the run loop (to be ported from md-sink-influx's Buffer).
