//! md-ingest: not wired yet (see the open md-ingest issue).
fn main() {
    eprintln!("md-ingest is not wired yet; see the open md-ingest issue");
    std::process::exit(2);
}
