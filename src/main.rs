fn main() {
    std::process::exit(wasmunit::main_with_args(std::env::args_os()));
}
