//! `cr-harness`: the in-VM test suite, printing KTAP (see `--help`); exit 1 if a case failed.

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
        let r = vm::guarded(golden::make_all).map_err(|e| println!("golden: {e}"));
        std::process::exit(i32::from(r.is_err()));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: cr-harness [--list] [SUBSTRING...] | --golden\nRuns the cases whose name contains any SUBSTRING (all without), prints KTAP; --list prints their names.");
        return;
    }
    let list = args.iter().any(|a| a == "--list");
    let filters: Vec<&String> = args.iter().filter(|a| *a != "--list").collect();
    // The migration's halves and the 1 GiB image run in boots of their own, only when named.
    let wanted = |c: &case::Case| {
        let own = ["ckpt-migrate", "ckpt-big"]
            .into_iter()
            .find(|p| c.name.starts_with(p));
        let names = |f: &&String| c.name.contains(*f) && own.is_none_or(|p| f.starts_with(p));
        (filters.is_empty() && own.is_none()) || filters.iter().any(names)
    };
    let sel: Vec<_> = case::all_cases().into_iter().filter(wanted).collect();
    if list {
        sel.iter().for_each(|c| println!("{}", c.name));
        return;
    }
    println!("KTAP version 1\n1..{}", sel.len());
    let mut failed = 0;
    for (i, c) in sel.iter().enumerate() {
        let _ = std::io::stdout().flush();
        if let Err(why) = vm::guarded(c.run) {
            failed += 1;
            println!("not ok {} {}", i + 1, c.name);
            why.lines().for_each(|l| println!("# {l}"));
        } else {
            println!("ok {} {}", i + 1, c.name);
        }
    }
    println!("# {} passed, {} failed", sel.len() - failed, failed);
    let _ = std::io::stdout().flush();
    std::process::exit(i32::from(failed > 0));
}
