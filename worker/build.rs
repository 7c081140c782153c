//! Build script: the same link settings as the controller (rpath to
//! libtorch, `libtorch_cuda.so` kept with `--no-as-needed`).

include!("../controller/libtorch_link.rs");
