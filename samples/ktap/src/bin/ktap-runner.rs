//! ktap-runner [--cargo-log FILE]... CONSOLE_LOG...
//!
//! Prints one line per VM test case, any kernel splat and other problems,
//! then, last, `N passed, N failed` (the cases of every console log, plus
//! host `cargo test` results from `--cargo-log` files). Exit status 0 only
//! when every VM run is clean (see the `ktap` library) and no host test
//! failed.

use ktap::{cargo_totals, Outcome, Report, Totals};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: ktap-runner [--cargo-log FILE]... CONSOLE_LOG...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut cargo_logs = Vec::new();
    let mut consoles = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cargo-log" => match args.next() {
                Some(f) => cargo_logs.push(f),
                None => return usage(),
            },
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            _ => consoles.push(a),
        }
    }
    if consoles.is_empty() {
        return usage();
    }

    let read = |f: &str| match std::fs::read(f) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            eprintln!("ktap-runner: cannot read {f}: {e}");
            None
        }
    };

    let mut host = Totals::default();
    for f in &cargo_logs {
        let Some(text) = read(f) else {
            return ExitCode::from(2);
        };
        host.add(cargo_totals(&text));
    }
    let mut all = Totals::default();
    let mut clean = true;
    for console in &consoles {
        let Some(text) = read(console) else {
            return ExitCode::from(2);
        };
        let (vm, ok) = report_console(console, &text, consoles.len() > 1);
        all.add(vm);
        clean &= ok;
    }
    if !cargo_logs.is_empty() {
        println!("host cargo tests: {host}");
    }
    all.add(host);
    println!("{all}");
    if clean && host.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Print the cases, splats and problems of one console log; return its
/// counts (a broken run counts one more failure) and whether it was clean.
fn report_console(console: &str, text: &str, label: bool) -> (Totals, bool) {
    let report = Report::parse(text);
    if label {
        println!("==== {console}");
    }
    for c in &report.results {
        let tag = match c.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        let dir = c
            .directive
            .as_deref()
            .map(|d| format!("  # {d}"))
            .unwrap_or_default();
        println!("{tag} {:3} {}{dir}", c.number, c.name);
        if c.outcome == Outcome::Fail {
            for d in &c.diag {
                println!("         {d}");
            }
        }
    }
    for (i, s) in report.splats.iter().enumerate() {
        println!(
            "---- kernel splat {} of {} ----",
            i + 1,
            report.splats.len()
        );
        for l in s {
            println!("  {l}");
        }
    }
    let problems = report.problems();
    for p in &problems {
        println!("PROBLEM: {p}");
    }
    let vm = Totals {
        passed: report.count(Outcome::Pass),
        failed: report.count(Outcome::Fail),
        skipped: report.count(Outcome::Skip),
    };
    println!(
        "vm cases ({console}): {vm}{}",
        if problems.is_empty() {
            ""
        } else {
            ", run NOT clean"
        }
    );
    // A broken run (splat, timeout, short plan) is one more failure, so the
    // count can never read as all-passed.
    let mut counted = vm;
    if !problems.is_empty() && vm.failed == 0 {
        counted.failed += 1;
    }
    (counted, report.ok())
}
