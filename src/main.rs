//! The `lungflow` command line.

fn main() {
    std::process::exit(lungflow::cli::main());
}
