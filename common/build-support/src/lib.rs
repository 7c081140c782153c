//! Link-time settings for every package that runs libtorch code, called
//! from the build scripts of `nas-controller` and `nas-worker`:
//!
//! - an rpath to the libtorch that torch-sys built against, so binaries in
//!   `target/` run with no `LD_LIBRARY_PATH` (a set `LD_LIBRARY_PATH` still
//!   wins, since this is a RUNPATH: that is how a binary built here runs on
//!   a GPU machine against its own libtorch);
//! - `libtorch_cuda.so` linked with `--no-as-needed` when it exists: nothing
//!   references its symbols directly, so the linker would drop it and CUDA
//!   would never register.
//!
//! torch-sys publishes its library folder as `DEP_TCH_LIBTORCH_LIB` to the
//! packages that depend on it directly, so each caller depends on torch-sys.

/// Prints the cargo instructions above; call it from `build.rs`.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch folder; no rpath embedded");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
