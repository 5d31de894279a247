//! The `s3cache` command; see `s3cache --help`.

fn main() -> std::process::ExitCode {
    s3cache_cli::cli::main()
}
