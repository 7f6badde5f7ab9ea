//! Compiles the cross-personality schema (under the personality framework)
//! with the `capnp` tool (Debian's capnproto, installed by `cargo xtask
//! setup`) and the capnpc Rust plugin.

fn main() {
    let schema = "../framework/schema";
    println!("cargo:rerun-if-changed={schema}/cross.capnp");
    if let Err(e) = capnpc::CompilerCommand::new()
        .src_prefix(schema)
        .file(format!("{schema}/cross.capnp"))
        .run()
    {
        panic!(
            "compiling {schema}/cross.capnp failed ({e}); the `capnp` schema \
             compiler comes from Debian's capnproto package (`cargo xtask setup`)"
        );
    }
}
