//! Parse, run, map to an exit code; nothing else (the README's exit codes). One JSON args
//! file as the only argument means Ansible runs us as a module (src/ansible.rs).

use clap::Parser;
use std::process::ExitCode;
use tuneguard::report::escape::block;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(file) = tuneguard::ansible::invoked(&args) {
        return ExitCode::from(tuneguard::ansible::run(&file) as u8);
    }
    let cli = match tuneguard::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // An error quotes the argument it refuses: escaped, as every message is.
            let text = e.render().to_string();
            if e.use_stderr() {
                eprint!("{}", block(&text));
                return ExitCode::from(2);
            }
            print!("{text}");
            return ExitCode::SUCCESS;
        }
    };
    match tuneguard::commands::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            // A closed pipe (`tuneguard audit | head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // Errors quote file names, values and what the kernel said: escaped, as
            // every report is (report::escape).
            let shown = |e: &dyn std::fmt::Display| block(&e.to_string()).into_owned();
            eprintln!("tuneguard: error: {}", shown(&err));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", shown(&cause));
            }
            ExitCode::from(2)
        }
    }
}
