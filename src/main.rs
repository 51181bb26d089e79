fn main() {
    std::process::exit(wasmunit::cli::main_with_args(std::env::args_os()));
}
