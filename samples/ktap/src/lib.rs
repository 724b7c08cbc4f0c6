//! Reads the serial console log of a ramfs_cr test VM and decides the run.
//!
//! The in-VM harness prints a KTAP document (`KTAP version 1`, a plan
//! `1..N`, then `ok`/`not ok` lines), and the series' kselftest a second one
//! (`TAP version 13`, numbered from 1 again). Kernel messages share the
//! console, so the log is also scanned for kernel splats. A run passes only
//! when:
//! - every document has a plan and exactly that many top-level results
//!   followed it,
//! - no result is `not ok` (a `# SKIP` directive counts as skipped, not failed),
//! - the console shows no splat (`BUG:`, `WARNING:`, `Oops`, `KASAN:`,
//!   lockdep reports, kmemleak's `unreferenced object`, `Call Trace:`, ...),
//! - the VM did not time out and init reported `ramfs_cr-init: done rc=0`
//!   (see `qemu/init` and `scripts/run-vm`).
//!
//! Indented lines are nested (subtest) output and `#` lines are diagnostics:
//! neither counts as a top-level result.

use std::fmt;

/// Printed by `qemu/init` just before it powers the VM off.
pub const INIT_DONE: &str = "ramfs_cr-init: done rc=";
/// Appended to the log by `scripts/run-vm` when its hard timeout fired.
pub const VM_TIMEOUT: &str = "ramfs_cr-run-vm: TIMEOUT";

/// Console substrings that mean the kernel complained.
pub const SPLAT_MARKERS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "KASAN:",
    "UBSAN:",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "unreferenced object",
    "suspected memory leak",
    "Call Trace:",
    "Kernel panic",
    "general protection fault",
    "------------[ cut here ]------------",
    // hung-task, lockup and RCU stall detectors (debug kernel)
    "blocked for more than",
    "soft lockup",
    "hard LOCKUP",
    "self-detected stall",
    "detected stalls on CPUs",
];

/// Printed at boot by a kernel with kmemleak; such a run must end with a
/// kmemleak report between these two markers (`qemu/init`).
pub const KMEMLEAK_BOOT: &str = "kmemleak: Kernel memory leak detector initialized";
pub const KMEMLEAK_BEGIN: &str = "ramfs_cr-init: kmemleak report begin";
pub const KMEMLEAK_END: &str = "ramfs_cr-init: kmemleak report end";

/// The most lines shown for one splat.
const SPLAT_MAX_LINES: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub number: u32,
    pub name: String,
    pub outcome: Outcome,
    /// The directive after `#`, e.g. `SKIP no CONFIG_FOO`.
    pub directive: Option<String>,
    /// Diagnostic and nested lines printed since the previous result.
    pub diag: Vec<String>,
}

/// One top-level KTAP document: its plan and how many results it has.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Doc {
    pub version: String,
    pub plan: Option<u32>,
    pub results: u32,
}

/// Everything the console log says about one VM run.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub version_seen: bool,
    /// The sum of the documents' plans (None when no document had one).
    pub plan: Option<u32>,
    pub docs: Vec<Doc>,
    pub results: Vec<CaseResult>,
    /// Each splat: its first line and what followed (bounded).
    pub splats: Vec<Vec<String>>,
    pub timed_out: bool,
    /// The rc from `ramfs_cr-init: done rc=N`, if init got there.
    pub init_rc: Option<i32>,
    /// Malformed or unexpected KTAP lines.
    pub ktap_errors: Vec<String>,
    /// The kernel has kmemleak (its boot line was seen).
    pub kmemleak_on: bool,
    /// The kmemleak report markers were both seen, in order.
    pub kmemleak_report: bool,
}

fn is_ktap_line(trimmed: &str) -> bool {
    trimmed.starts_with('#')
        || trimmed.starts_with("ok ")
        || trimmed.starts_with("not ok ")
        || trimmed == "ok"
        || trimmed.starts_with("KTAP version")
        || trimmed.starts_with("TAP version")
}

fn splat_start(line: &str) -> bool {
    let t = line.trim_start();
    !is_ktap_line(t) && SPLAT_MARKERS.iter().any(|m| line.contains(m))
}

fn splat_end(line: &str) -> bool {
    line.contains("---[ end trace") || line.contains("---[ end Kernel panic")
}

/// Parses `ok 3 - name # SKIP why` (the text after the indentation).
fn parse_result(t: &str) -> Option<(Outcome, u32, String, Option<String>)> {
    let (fail, rest) = if let Some(r) = t.strip_prefix("not ok ") {
        (true, r)
    } else if let Some(r) = t.strip_prefix("ok ") {
        (false, r)
    } else {
        return None;
    };
    let rest = rest.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number: u32 = digits.parse().ok()?;
    let mut tail = rest[digits.len()..].trim_start();
    if let Some(t2) = tail.strip_prefix("- ") {
        tail = t2;
    } else if tail == "-" {
        tail = "";
    }
    let (name, directive) = if let Some(d) = tail.strip_prefix("# ") {
        (String::new(), Some(d.trim().to_string()))
    } else if let Some(i) = tail.find(" # ") {
        (
            tail[..i].trim().to_string(),
            Some(tail[i + 3..].trim().to_string()),
        )
    } else {
        (tail.trim().to_string(), None)
    };
    let skip = directive
        .as_deref()
        .map(|d| d.to_ascii_uppercase().starts_with("SKIP"))
        .unwrap_or(false);
    let outcome = if fail && !skip {
        Outcome::Fail
    } else if skip {
        Outcome::Skip
    } else {
        Outcome::Pass
    };
    Some((outcome, number, name, directive))
}

impl Report {
    /// Reads a whole console log.
    pub fn parse(log: &str) -> Report {
        let mut r = Report::default();
        let mut pending_diag: Vec<String> = Vec::new();
        let mut in_splat: Option<usize> = None;
        let mut kmemleak_begun = false;
        for raw in log.lines() {
            let line = raw.trim_end_matches(['\r', '\n']);
            // Splats: a block from a marker line to "end trace" (bounded).
            if let Some(i) = in_splat {
                if splat_start(line) && r.splats[i].len() > 1 && !line.contains("Call Trace:") {
                    // A new report begins inside the old one; start a new block.
                    in_splat = None;
                } else {
                    r.splats[i].push(line.to_string());
                    if splat_end(line) || r.splats[i].len() >= SPLAT_MAX_LINES {
                        in_splat = None;
                    }
                    continue;
                }
            }
            if splat_start(line) {
                r.splats.push(vec![line.to_string()]);
                in_splat = Some(r.splats.len() - 1);
                continue;
            }
            if line.contains(VM_TIMEOUT) {
                r.timed_out = true;
                continue;
            }
            if line.contains(KMEMLEAK_BOOT) {
                r.kmemleak_on = true;
                continue;
            }
            if line.contains(KMEMLEAK_BEGIN) {
                kmemleak_begun = true;
                continue;
            }
            if line.contains(KMEMLEAK_END) {
                r.kmemleak_report |= kmemleak_begun;
                continue;
            }
            if let Some(i) = line.find(INIT_DONE) {
                let v = &line[i + INIT_DONE.len()..];
                let n: String = v
                    .chars()
                    .take_while(|c| *c == '-' || c.is_ascii_digit())
                    .collect();
                r.init_rc = Some(n.parse().unwrap_or(-1));
                continue;
            }
            // KTAP: only lines without indentation are top level.
            let indented = line.starts_with(' ') || line.starts_with('\t');
            let t = line.trim();
            if t.starts_with("KTAP version") || t.starts_with("TAP version") {
                if !indented {
                    r.docs.push(Doc {
                        version: t.to_string(),
                        ..Doc::default()
                    });
                    r.version_seen = true;
                } else {
                    pending_diag.push(line.to_string());
                }
                continue;
            }
            if indented {
                if r.version_seen && (is_ktap_line(t) || t.starts_with("1..")) {
                    pending_diag.push(line.to_string());
                }
                continue;
            }
            if let Some(p) = t.strip_prefix("1..") {
                if let Ok(n) = p.trim().parse::<u32>() {
                    match r.docs.last_mut() {
                        Some(d) if d.plan.is_none() => {
                            d.plan = Some(n);
                            r.plan = Some(r.plan.unwrap_or(0) + n);
                        }
                        Some(_) => r.ktap_errors.push(format!("a second plan: {t}")),
                        None => r
                            .ktap_errors
                            .push(format!("a plan before any KTAP version line: {t}")),
                    }
                    continue;
                }
            }
            if t.starts_with('#') {
                pending_diag.push(t.to_string());
                continue;
            }
            if let Some((outcome, number, name, directive)) = parse_result(t) {
                let Some(doc) = r.docs.last_mut() else {
                    r.ktap_errors
                        .push(format!("a result before any KTAP version line: {t}"));
                    continue;
                };
                doc.results += 1;
                let expected = doc.results;
                if number != expected {
                    r.ktap_errors.push(format!(
                        "result numbered {number}, expected {expected}: {t}"
                    ));
                }
                r.results.push(CaseResult {
                    number,
                    name,
                    outcome,
                    directive,
                    diag: std::mem::take(&mut pending_diag),
                });
            }
        }
        r
    }

    pub fn count(&self, o: Outcome) -> usize {
        self.results.iter().filter(|c| c.outcome == o).count()
    }

    /// Everything wrong with the run, besides failed cases.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.timed_out {
            p.push("the VM timed out".to_string());
        }
        if self.docs.is_empty() {
            p.push("no KTAP plan (1..N) on the console".to_string());
        }
        for (i, d) in self.docs.iter().enumerate() {
            let which = if self.docs.len() > 1 {
                format!("document {} ({}): ", i + 1, d.version)
            } else {
                String::new()
            };
            match d.plan {
                None => p.push(format!("{which}no KTAP plan (1..N) on the console")),
                Some(n) if d.results < n => p.push(format!(
                    "{which}incomplete run: plan 1..{n} but {} results",
                    d.results
                )),
                Some(n) if d.results > n => {
                    p.push(format!("{which}plan 1..{n} but {} results", d.results))
                }
                Some(0) => p.push(format!("{which}0 cases: the filter matched no case")),
                _ => {}
            }
        }
        if self.kmemleak_on && !self.kmemleak_report && !self.timed_out {
            p.push("kmemleak is on but the console has no kmemleak report".to_string());
        }
        if !self.splats.is_empty() {
            p.push(format!(
                "{} kernel splat(s) on the console",
                self.splats.len()
            ));
        }
        match self.init_rc {
            None if !self.timed_out => {
                p.push("init never reported 'ramfs_cr-init: done' (crash or panic?)".to_string())
            }
            Some(rc) if rc != 0 && self.count(Outcome::Fail) == 0 => {
                p.push(format!("the in-VM command exited with rc={rc}"))
            }
            _ => {}
        }
        p.extend(self.ktap_errors.iter().cloned());
        p
    }

    /// True when the run counts as passed.
    pub fn ok(&self) -> bool {
        self.count(Outcome::Fail) == 0 && self.problems().is_empty()
    }
}

/// Totals from `cargo test` output: the sum of its `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn add(&mut self, o: Totals) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Sums `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines.
pub fn cargo_totals(log: &str) -> Totals {
    let mut t = Totals::default();
    for line in log.lines() {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            continue;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = words
                .iter()
                .rev()
                .nth(1)
                .and_then(|w| w.parse::<usize>().ok());
            match (n, words.last()) {
                (Some(n), Some(&"passed")) => t.passed += n,
                (Some(n), Some(&"failed")) => t.failed += n,
                (Some(n), Some(&"ignored")) => t.skipped += n,
                _ => {}
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "Linux version 6.12.117+ (clang)\nkmemleak: Kernel memory leak detector initialized (mem pool available: 15000)\nKernelAddressSanitizer initialized (generic)\nRun /init as init process\nramfs_cr-init: kernel 6.12.117+, cmd=check\n";

    fn log(ktap: &str, tail: &str) -> String {
        format!("{BOOT}{ktap}ramfs_cr-init: kmemleak report begin\nramfs_cr-init: kmemleak report end\n{tail}ramfs_cr-init: done rc=0\nreboot: Restarting system\n")
    }

    const CLEAN: &str = "KTAP version 1\n1..3\n# ramfs_cr harness: 3 cases\nok 1 ramfs: create and read a file\n    KTAP version 1\n    1..2\n    ok 1 sub a\n    not ok 2 sub b # SKIP not here\nok 2 - ramfs_cr: insmod\nok 3 ramfs_cr: xattr # SKIP no xattr support\n";

    #[test]
    fn clean_log_passes() {
        let r = Report::parse(&log(CLEAN, ""));
        assert_eq!(r.plan, Some(3));
        assert_eq!(r.results.len(), 3);
        assert_eq!(r.count(Outcome::Pass), 2);
        assert_eq!(r.count(Outcome::Skip), 1);
        assert_eq!(r.results[1].name, "ramfs_cr: insmod");
        assert_eq!(r.results[0].diag.len(), 1, "{:?}", r.results[0].diag);
        assert_eq!(r.results[1].diag.len(), 4, "{:?}", r.results[1].diag);
        assert!(r.ok(), "{:?}", r.problems());
    }

    #[test]
    fn crlf_console_passes() {
        let r = Report::parse(&log(CLEAN, "").replace('\n', "\r\n"));
        assert!(r.ok(), "{:?}", r.problems());
        assert_eq!(r.results[0].name, "ramfs: create and read a file");
    }

    #[test]
    fn failing_case_fails() {
        let k = "KTAP version 1\n1..2\nok 1 a\n# expected 5 bytes, got 4\nnot ok 2 b\n";
        let r = Report::parse(&log(k, "").replace("rc=0", "rc=1"));
        assert_eq!(r.count(Outcome::Fail), 1);
        assert_eq!(r.results[1].diag, vec!["# expected 5 bytes, got 4"]);
        assert!(!r.ok());
    }

    #[test]
    fn truncated_plan_fails() {
        let k = "KTAP version 1\n1..3\nok 1 a\nok 2 b\n";
        let r = Report::parse(&log(k, ""));
        assert_eq!(r.count(Outcome::Fail), 0);
        assert!(!r.ok());
        assert!(r.problems()[0].contains("incomplete"), "{:?}", r.problems());
    }

    #[test]
    fn no_plan_fails() {
        let r = Report::parse(&log("ok 1 a\n", ""));
        assert!(!r.ok());
        let r = Report::parse(&log("", ""));
        assert!(!r.ok());
    }

    #[test]
    fn warning_splat_fails() {
        let splat = "------------[ cut here ]------------\nWARNING: CPU: 1 PID: 52 at fs/dcache.c:1595 umount_check+0x5d/0x70\nModules linked in: ramfs_cr\nCall Trace:\n <TASK>\n ? __warn+0x8f/0x1a0\n </TASK>\n---[ end trace 0000000000000000 ]---\n";
        let k = format!("KTAP version 1\n1..2\nok 1 a\n{splat}ok 2 b\n");
        let r = Report::parse(&log(&k, ""));
        assert_eq!(r.count(Outcome::Pass), 2);
        assert_eq!(r.splats.len(), 1, "{:?}", r.splats);
        assert!(r.splats[0].iter().any(|l| l.contains("umount_check")));
        assert!(!r.ok());
    }

    #[test]
    fn kasan_lockdep_kmemleak_fail() {
        for s in [
            "BUG: KASAN: slab-use-after-free in ramfs_cr_checkpoint+0x10/0x20\n",
            "WARNING: possible circular locking dependency detected\n",
            "unreferenced object 0xffff888003a0c000 (size 64):\n  comm \"cr-harness\", pid 60\n",
            "Oops: general protection fault, probably for non-canonical address\n",
        ] {
            let k = format!("KTAP version 1\n1..1\nok 1 a\n{s}");
            let r = Report::parse(&log(&k, ""));
            assert!(!r.ok(), "not caught: {s}");
        }
    }

    #[test]
    fn diag_mentioning_warning_is_not_a_splat() {
        let k = "KTAP version 1\n1..1\n# checks that no WARNING: is printed\nok 1 a\n";
        let r = Report::parse(&log(k, ""));
        assert!(r.ok(), "{:?}", r.problems());
    }

    #[test]
    fn timeout_fails() {
        let k = "KTAP version 1\n1..1\nok 1 a\n";
        let text = format!("{BOOT}{k}ramfs_cr-run-vm: TIMEOUT after 900s\n");
        let r = Report::parse(&text);
        assert!(r.timed_out);
        assert!(!r.ok());
    }

    #[test]
    fn missing_init_done_fails() {
        let text = format!("{BOOT}KTAP version 1\n1..1\nok 1 a\n");
        assert!(!Report::parse(&text).ok());
    }

    #[test]
    fn misnumbered_results_fail() {
        let k = "KTAP version 1\n1..2\nok 1 a\nok 1 b\n";
        assert!(!Report::parse(&log(k, "")).ok());
    }

    #[test]
    fn zero_cases_fail() {
        let r = Report::parse(&log("KTAP version 1\n1..0\n# 0 passed, 0 failed\n", ""));
        assert!(!r.ok(), "{:?}", r.problems());
        assert!(r.problems().iter().any(|p| p.contains("0 cases")));
    }

    #[test]
    fn missing_kmemleak_report_fails() {
        let l = log(CLEAN, "").replace(
            "ramfs_cr-init: kmemleak report begin\nramfs_cr-init: kmemleak report end\n",
            "",
        );
        let r = Report::parse(&l);
        assert!(!r.ok());
        assert!(r.problems().iter().any(|p| p.contains("kmemleak")));
        // a kernel without kmemleak needs no report
        let r = Report::parse(&l.replace(KMEMLEAK_BOOT, "kmemleak: disabled"));
        assert!(r.ok(), "{:?}", r.problems());
    }

    #[test]
    fn hung_task_and_lockups_fail() {
        for line in [
            "[  120.1] INFO: task cr-harness:77 blocked for more than 30 seconds.",
            "[  120.1] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [cr-harness:77]",
            "[  120.1] Watchdog detected hard LOCKUP on cpu 1",
            "[  120.1] rcu: INFO: rcu_sched self-detected stall on CPU",
        ] {
            let r = Report::parse(&log(CLEAN, &format!("{line}\n")));
            assert!(!r.ok(), "{line}");
            assert_eq!(r.splats.len(), 1, "{line}");
        }
    }

    #[test]
    fn two_documents_count_together() {
        let k = "KTAP version 1\n1..2\nok 1 a\nok 2 b\nTAP version 13\n1..3\nok 1 k: x\nok 2 k: y\nok 3 k: z\n# Totals: pass:3 fail:0\n";
        let r = Report::parse(&log(k, ""));
        assert!(r.ok(), "{:?}", r.problems());
        assert_eq!(r.plan, Some(5));
        assert_eq!(r.count(Outcome::Pass), 5);
        assert_eq!(r.docs.len(), 2);
    }

    /// The run fails, and one problem names the second document and `what`.
    fn fails_in_doc2(ktap: &str, what: &str) {
        let r = Report::parse(&log(ktap, ""));
        assert!(!r.ok());
        let p = r.problems();
        assert!(
            p.iter()
                .any(|p| p.contains("document 2") && p.contains(what)),
            "{p:?}"
        );
    }

    #[test]
    fn second_document_incomplete_or_skipped_fails() {
        let k = "KTAP version 1\n1..1\nok 1 a\nTAP version 13\n1..3\nok 1 x\nok 2 y\n";
        fails_in_doc2(k, "incomplete");
        // kselftest's whole-test skip: "1..0 # SKIP" is no plan.
        let k = "KTAP version 1\n1..1\nok 1 a\nTAP version 13\n1..0 # SKIP no /sys/kernel/checkpoint/version\n";
        fails_in_doc2(k, "no KTAP plan");
    }

    #[test]
    fn misnumbered_second_document_fails() {
        let k = "KTAP version 1\n1..1\nok 1 a\nTAP version 13\n1..2\nok 2 x\nok 3 y\n";
        let r = Report::parse(&log(k, ""));
        assert!(!r.ok());
    }

    #[test]
    fn cargo_totals_sum() {
        let c = "running 3 tests\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
        let t = cargo_totals(c);
        assert_eq!(
            t,
            Totals {
                passed: 5,
                failed: 1,
                skipped: 1
            }
        );
        assert_eq!(t.to_string(), "5 passed, 1 failed, 1 skipped");
    }
}
