//! Compiles the XDP program (`bpf/steer.bpf.c`) with clang for the BPF target. Without clang
//! (or the libbpf headers) the crate still builds: the object is empty and the AF_XDP plane
//! reports itself unavailable at run time, so the daemon falls back to AF_PACKET.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "bpf/steer.bpf.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=FULCRUM_BPF_CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("steer.bpf.o");
    let clang = std::env::var("FULCRUM_BPF_CLANG").unwrap_or_else(|_| "clang".to_string());
    // The multiarch include directory holds <asm/types.h>, which the BPF target cannot guess.
    let multiarch = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf", "-c", source, "-o"])
        .arg(&object)
        .arg(format!("-I{multiarch}"))
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            println!(
                "cargo:warning=the XDP program was not compiled ({other:?}): install clang and \
                 libbpf-dev (scripts/install-deps.sh); the AF_XDP plane will be unavailable"
            );
            std::fs::write(&object, b"").expect("write an empty object");
        }
    }
}
