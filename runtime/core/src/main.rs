//! The `monstrum` binary.

fn main() -> std::process::ExitCode {
    monstrum::cli::main()
}
