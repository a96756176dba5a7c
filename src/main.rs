//! The `lungflow` command line.

// The engine's few unsafe operations are libc calls, each allowed on its
// own item with a SAFETY comment; anything else unsafe is an error.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
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
