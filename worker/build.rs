//! Build script: the libtorch link settings of `nas-build-support`.

fn main() {
    nas_build_support::link_libtorch();
}
