//! ktap-runner [--cargo-log FILE]... CONSOLE_LOG
//!
//! Prints one line per VM test case, any kernel splat and other problems,
//! then, last, `N passed, N failed` (host `cargo test` results from
//! `--cargo-log` files are added to the counts). Exit status 0 only when the
//! VM run is clean (see the `ktap` library) and no host test failed.

use ktap::{cargo_totals, Outcome, Report, Totals};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: ktap-runner [--cargo-log FILE]... CONSOLE_LOG");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut cargo_logs = Vec::new();
    let mut console = None;
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
            _ if console.is_none() => console = Some(a),
            _ => return usage(),
        }
    }
    let Some(console) = console else { return usage() };

    let read = |f: &str| match std::fs::read(f) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            eprintln!("ktap-runner: cannot read {f}: {e}");
            None
        }
    };

    let mut host = Totals::default();
    for f in &cargo_logs {
        let Some(text) = read(f) else { return ExitCode::from(2) };
        host.add(cargo_totals(&text));
    }
    let Some(text) = read(&console) else { return ExitCode::from(2) };
    let report = Report::parse(&text);

    for c in &report.results {
        let tag = match c.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        let dir = c.directive.as_deref().map(|d| format!("  # {d}")).unwrap_or_default();
        println!("{tag} {:3} {}{dir}", c.number, c.name);
        if c.outcome == Outcome::Fail {
            for d in &c.diag {
                println!("         {d}");
            }
        }
    }
    for (i, s) in report.splats.iter().enumerate() {
        println!("---- kernel splat {} of {} ----", i + 1, report.splats.len());
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
    // A broken run (splat, timeout, short plan) is one more failure, so the
    // count can never read as all-passed.
    let mut all = vm;
    if !problems.is_empty() && vm.failed == 0 {
        all.failed += 1;
    }
    if !cargo_logs.is_empty() {
        println!("host cargo tests: {host}");
    }
    println!("vm cases ({console}): {vm}{}", if problems.is_empty() { "" } else { ", run NOT clean" });
    all.add(host);
    println!("{all}");
    if report.ok() && host.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
