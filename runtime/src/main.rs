//! The `micro-wasm` binary: parse the command line, call the library, exit 0/1/2.

fn main() -> std::process::ExitCode {
    micro_wasm::cli::main()
}
