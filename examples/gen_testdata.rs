//! Regenerates the committed synthetic test images: `cargo run --release --example gen_testdata
//! [DIR]` (default `testdata/images`). Deterministic: rerunning rewrites identical bytes.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/images".to_string());
    let dir = std::path::Path::new(&dir);
    if dir.exists() {
        // Start clean so files dropped from the generator do not linger.
        if let Err(e) = std::fs::remove_dir_all(dir) {
            eprintln!("gen_testdata: cannot clear {}: {e}", dir.display());
            std::process::exit(74);
        }
    }
    match hashguard::synth::write_image_set(dir) {
        Ok(entries) => println!("wrote {} files to {}", entries.len(), dir.display()),
        Err(e) => {
            eprintln!("gen_testdata: {e}");
            std::process::exit(74);
        }
    }
}
