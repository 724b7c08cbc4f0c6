//! `cr-harness`: the in-VM test suite.  Prints KTAP:
//!
//! ```text
//! KTAP version 1
//! 1..N
//! ok 1 ramfs_cr: ...
//! not ok 2 ckpt: ...
//! # expected ..., got ...
//! ```
//! Arguments filter the cases by substring (any may match), so one case can
//! be re-run: `cr-harness 'dup'd fds'`.  `--list` prints the case names.
//! Exit status: 0 when every selected case passed, 1 otherwise.

mod case;
#[macro_use]
mod vm;
mod abi_cases;
mod big_cases;
mod ckpt_cases;
mod contents_cases;
mod fault_cases;
mod fs_cases;
mod fuzz_cases;
mod golden;
mod hardening_cases;
mod mutate;
mod positions_cases;
mod roundtrip;
mod security_cases;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first = args.first().map(String::as_str);
    // The set-uid helper of a security case (see security_cases::exec_race).
    if first == Some("--suid-open") {
        security_cases::suid_open(&args[1..]);
    }
    vm::quiet_panics();
    if first == Some("--golden") {
        // print the golden images (see golden.rs) and exit
        let r = vm::guarded(golden::make_all);
        if let Err(e) = &r {
            println!("golden: {e}");
        }
        std::process::exit(i32::from(r.is_err()));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: cr-harness [--list] [SUBSTRING...] | --golden\nRuns the cases whose name contains any SUBSTRING (all without), prints KTAP.");
        return;
    }
    let list = args.iter().any(|a| a == "--list");
    let filters: Vec<&String> = args.iter().filter(|a| *a != "--list").collect();
    // The two halves of the migration and the 1 GiB image run in boots of
    // their own (make vm-check), only when a filter names them.
    let own = |n: &str| {
        ["ckpt-migrate", "ckpt-big"]
            .iter()
            .find(|p| n.starts_with(*p))
            .copied()
    };
    let wanted = |c: &case::Case| match own(c.name) {
        Some(p) => filters
            .iter()
            .any(|f| f.starts_with(p) && c.name.contains(*f)),
        None => filters.is_empty() || filters.iter().any(|f| c.name.contains(*f)),
    };
    let sel: Vec<_> = case::all_cases().into_iter().filter(wanted).collect();
    if list {
        for c in &sel {
            println!("{}", c.name);
        }
        return;
    }
    println!("KTAP version 1");
    println!("1..{}", sel.len());
    let mut failed = 0;
    for (i, c) in sel.iter().enumerate() {
        let _ = std::io::stdout().flush();
        match vm::guarded(c.run) {
            Ok(()) => println!("ok {} {}", i + 1, c.name),
            Err(why) => {
                failed += 1;
                println!("not ok {} {}", i + 1, c.name);
                for l in why.lines() {
                    println!("# {l}");
                }
            }
        }
    }
    println!("# {} passed, {} failed", sel.len() - failed, failed);
    let _ = std::io::stdout().flush();
    std::process::exit(i32::from(failed > 0));
}
