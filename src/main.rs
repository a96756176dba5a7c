//! The `lungflow` command line.

fn main() {
    // Die quietly when stdout is a closed pipe (`lungflow status | head`), as
    // command-line tools do, instead of panicking on the failed write.
    // SAFETY: called before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    lungflow::report::sweep_table::configure_display();
    std::process::exit(lungflow::cli::main());
}
