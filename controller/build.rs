//! Build script: embeds the libtorch rpath and keeps `libtorch_cuda.so`
//! linked; see `libtorch_link.rs`, which the worker's build script shares.

include!("libtorch_link.rs");
