//! Compiles `proto/orderbook.proto` with protox (pure Rust), so building md needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let file = format!("{proto_dir}/orderbook.proto");
    println!("cargo:rerun-if-changed={file}");
    let descriptors = protox::compile([file.as_str()], [proto_dir])?;
    // The descriptor set is also what gRPC reflection serves (grpcurl and friends).
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(format!("{out}/orderbook_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
