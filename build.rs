//! Records the version of the embedded wasmtime (from Cargo.lock) for
//! `wasmunit --version`.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut version = "unknown".to_owned();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                v.clone_into(&mut version);
            }
            break;
        }
    }
    println!("cargo:rustc-env=WASMUNIT_ENGINE_VERSION={version}");
}
