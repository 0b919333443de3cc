//! Build script: records the source revision, so every record and report can name the exact
//! build that produced it (chain of custody), and compiles the gRPC contract in `proto/` with a
//! file descriptor set for reflection.

use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HASHGUARD_GIT_REV={rev}");
    // Rebuild when the checked-out commit changes.
    for path in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }

    // libheif (HEIC/AVIF) links from the system: Debian 12's 1.15 (scripts/setup.sh installs
    // libheif-dev). Probing here turns a missing library into one clear message.
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.15")
        .probe("libheif")
    {
        panic!("libheif >= 1.15 not found: {e} (run `make setup`, which installs libheif-dev)");
    }

    // libarchive (archives inside seized media) from the system: Debian 12's 3.6.
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("3.3")
        .probe("libarchive")
    {
        panic!(
            "libarchive >= 3.3 not found: {e} (run `make setup`, which installs libarchive-dev)"
        );
    }

    // The Sleuth Kit (disk images, file systems; E01 through libewf) from the system: Debian
    // 12's 4.11, through our small C shim (src/containers/disk.rs says why).
    let tsk = pkg_config::Config::new()
        .atleast_version("4.6")
        .probe("tsk")
        .unwrap_or_else(|e| {
            panic!("The Sleuth Kit (libtsk) not found: {e} (run `make setup`, which installs libtsk-dev)")
        });
    println!("cargo:rerun-if-changed=csrc");
    let mut shim = cc::Build::new();
    shim.file("csrc/tsk_shim.c")
        .warnings(true)
        .extra_warnings(true);
    for dir in &tsk.include_paths {
        shim.include(dir);
    }
    shim.compile("hashguard_tsk_shim");
    // The shim's static library comes before libtsk on the link line; say libtsk again after.
    for lib in &tsk.libs {
        println!("cargo:rustc-link-lib={lib}");
    }

    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=proto");
    if let Err(e) = tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("hashguard_descriptor.bin"))
        .compile_protos(&["proto/hashguard/v1/hashguard.proto"], &["proto"])
    {
        // protoc comes from scripts/setup.sh (Debian's protobuf-compiler).
        panic!(
            "compiling proto/hashguard/v1/hashguard.proto: {e} (is protoc installed? run `make setup`)"
        );
    }
}
