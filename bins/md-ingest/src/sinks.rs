//! The sinks md-ingest can store into: one line per kind where it is chosen.

use std::path::Path;

use md_pipeline::Sink;
use md_sink_influx::{Buffer, LineFiles};

use crate::settings::{SinkKind, SinkSpec};

/// Builds the sink a spec describes.
pub fn build(spec: &SinkSpec) -> Result<Box<dyn Sink>, String> {
    let name = spec.name.clone();
    let failed = |e: md_sink_influx::InfluxError| format!("sink {name}: {e}");
    Ok(match &spec.kind {
        SinkKind::Files(config) => {
            Box::new(LineFiles::named(&spec.name, (**config).clone()).map_err(failed)?)
        }
        SinkKind::Influx(config) => {
            adopt_legacy_spools(&config.spool_dir);
            Box::new(Buffer::named(&spec.name, (**config).clone()).map_err(failed)?)
        }
        SinkKind::Events(config) => Box::new(
            md_events::EventFiles::named(&spec.name, (**config).clone())
                .map_err(|e| format!("sink {name}: {e}"))?,
        ),
        SinkKind::Export(config) => {
            Box::new(md_export::Export::new((**config).clone()).map_err(|e| format!("sink {name}: {e}"))?)
        }
    })
}

/// Earlier versions of md-ingest kept one spool per venue (`influx/<venue>/spool/<lane>/`);
/// now one InfluxDB sink serves every venue (`influx/spool/<lane>/`). Their segments are moved
/// in, after any already there, so a restart after an upgrade still delivers them.
fn adopt_legacy_spools(spool_dir: &Path) {
    let Some(base) = spool_dir.parent() else { return };
    for venue in md_core::ExchangeId::BUILT_IN {
        let legacy = base.join(venue.as_str()).join("spool");
        let Ok(lanes) = std::fs::read_dir(&legacy) else { continue };
        for lane in lanes.flatten() {
            let target = spool_dir.join(lane.file_name());
            if let Err(e) = move_segments(&lane.path(), &target) {
                tracing::error!(from = %lane.path().display(), error = %e, "cannot adopt an old spool; it stays where it is");
            }
        }
    }
}

fn move_segments(from: &Path, to: &Path) -> std::io::Result<()> {
    let segment_id =
        |p: &Path| -> Option<u64> { p.file_name()?.to_str()?.strip_suffix(".seg")?.parse().ok() };
    let mut old: Vec<_> =
        std::fs::read_dir(from)?.flatten().map(|e| e.path()).filter(|p| segment_id(p).is_some()).collect();
    if old.is_empty() {
        return Ok(());
    }
    old.sort();
    std::fs::create_dir_all(to)?;
    let first = std::fs::read_dir(to)?.flatten().filter_map(|e| segment_id(&e.path())).max().unwrap_or(0) + 1;
    for (id, segment) in (first..).zip(old) {
        std::fs::rename(&segment, to.join(format!("{id:012}.seg")))?;
        tracing::info!(from = %segment.display(), "adopted a spool segment of an earlier version");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spools_of_the_per_venue_layout_are_adopted_after_the_current_ones() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("influx").join("spool");
        std::fs::create_dir_all(spool.join("incremental")).unwrap();
        std::fs::write(spool.join("incremental").join("000000000007.seg"), b"current").unwrap();
        for (venue, body) in [("binance", "b1"), ("huobi", "h1")] {
            let lane = dir.path().join("influx").join(venue).join("spool").join("incremental");
            std::fs::create_dir_all(&lane).unwrap();
            std::fs::write(lane.join("000000000001.seg"), body).unwrap();
        }
        adopt_legacy_spools(&spool);
        let read = |id: u64| {
            std::fs::read_to_string(spool.join("incremental").join(format!("{id:012}.seg"))).unwrap()
        };
        assert_eq!((read(7), read(8), read(9)), ("current".into(), "b1".into(), "h1".into()));
        assert!(!dir.path().join("influx/binance/spool/incremental/000000000001.seg").exists());
    }
}
