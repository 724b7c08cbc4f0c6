# ramfs_cr driver. `make demo` and `make check` do everything from a fresh
# Debian 12 (dependencies, kernel, module, tools, VM). See README.md.
#
# Built things live in build/ (ignored) and in the kernel cache
# ($(RAMFS_CR_CACHE), default ~/.cache/ramfs_cr).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
MAKEFLAGS += --no-print-directory
.DEFAULT_GOAL := help

CARGO ?= cargo
TARGET := x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR := $(CURDIR)/build/target
BIN := $(CARGO_TARGET_DIR)/$(TARGET)/release
VMLOG := build/vm
# make check FILTER=substring: run only the VM cases whose name contains it.
FILTER ?=
export FILTER
# Hard timeout of one VM run, in seconds.
VM_TIMEOUT ?= 2700
# make bench BENCH_CLOCK=icount (deterministic guest time) | wall (real time).
BENCH_CLOCK ?= icount

.PHONY: help deps bench-deps kernel kernel-debug kernel-nockpt kernel-criu module module-debug module-nockpt \
	module-criu initramfs-nockpt initramfs-bench \
	kselftest sparse \
	samples host-test initramfs initramfs-debug check vm-check fuzz bisect-check demo bench \
	vm shell rust-analyzer clippy clean clean-cache

help:
	@echo "make demo          set up everything, boot the VM, show checkpoint/restart"
	@echo "make check         set up everything, host tests + VM suite (debug kernel)"
	@echo "                   FILTER=substr runs only the matching VM cases"
	@echo "make bench         benchmarks, with CRIU side by side, on the bench kernel (BENCH_CLOCK=icount|wall)"
	@echo "make fuzz          restart(2) fuzz on the debug kernel: FUZZ_N=10000 images, FUZZ_SEED=S replays"
	@echo "make bisect-check  build the kernel after each patch of the series (~45 min)"
	@echo "make deps | kernel | kernel-debug | kernel-nockpt | module | module-debug"
	@echo "make samples | initramfs | initramfs-debug | host-test"
	@echo "make vm CMD='...'  run a shell command in the VM (base kernel); make shell"
	@echo "make rust-analyzer write rust-project.json for editors"
	@echo "make clean         remove build/; make clean-cache removes the kernel cache"

deps:
	@scripts/setup-deps

# make bench also needs Debian's criu (copied into the bench VM image).
bench-deps:
	@scripts/setup-deps bench

build:
	@mkdir -p build

kernel: deps | build
	@scripts/build-kernel base >build/kdir-base
	@echo "kernel (base): $$(cat build/kdir-base)"

kernel-debug: deps | build
	@scripts/build-kernel debug >build/kdir-debug
	@echo "kernel (debug): $$(cat build/kdir-debug)"

# Build check: the module must build without CONFIG_CHECKPOINT.
kernel-nockpt: deps | build
	@scripts/build-kernel nockpt >build/kdir-nockpt
	@echo "kernel (nockpt): $$(cat build/kdir-nockpt)"

# The bench kernel: base + qemu/criu.config, so that CRIU runs beside ckpt
# on one kernel (Documentation/benchmarks.rst). Built only by make bench.
kernel-criu: bench-deps | build
	@scripts/build-kernel criu >build/kdir-criu
	@echo "kernel (criu): $$(cat build/kdir-criu)"

module-criu: kernel-criu
	@scripts/build-module "$$(cat build/kdir-criu)" >build/ko-criu
	@echo "module (criu): $$(cat build/ko-criu)"

module-nockpt: kernel-nockpt
	@scripts/build-module "$$(cat build/kdir-nockpt)" >build/ko-nockpt
	@echo "module (nockpt): $$(cat build/ko-nockpt)"

module: kernel
	@scripts/build-module "$$(cat build/kdir-base)" >build/ko-base
	@echo "module (base): $$(cat build/ko-base)"

module-debug: kernel-debug
	@scripts/build-module "$$(cat build/kdir-debug)" >build/ko-debug
	@echo "module (debug): $$(cat build/ko-debug)"

# Static binaries for the VM (RUSTFLAGS does not reach build scripts with --target).
samples: deps
	@echo "samples: cargo build --release --target $(TARGET) (static)"
	@cd samples && RUSTFLAGS="-C target-feature=+crt-static" \
		$(CARGO) build --release --target $(TARGET) --bins --quiet

host-test: deps | build
	@scripts/check-docs
	@scripts/check-patches
	@scripts/check-fmt
	@scripts/check-clippy
	@scripts/list-assertions | diff -u Documentation/harness-assertions-after.txt - >build/assertions.diff || \
		{ cat build/assertions.diff; echo "Documentation/harness-assertions-after.txt is not what the harness asserts (regenerate: scripts/list-assertions >Documentation/harness-assertions-after.txt)"; exit 1; }
	@scripts/list-assertions --check Documentation/harness-assertions-before.txt \
		Documentation/harness-assertions-after.txt
	@echo "host tests: cargo test --release (samples/)"
	@cd samples && if ! $(CARGO) test --release >$(CURDIR)/build/host-tests.log 2>&1; then \
		tail -60 $(CURDIR)/build/host-tests.log; \
		echo "host tests failed (log: build/host-tests.log)"; exit 1; fi
	@grep -E '^test result:' build/host-tests.log | sed 's/^/  /'

initramfs: module samples
	@scripts/mkinitramfs "$$(cat build/ko-base)" build/initramfs-base.cpio >/dev/null

# The series' kselftest (tools/testing/selftests/checkpoint/), static, built
# against the debug kernel's uapi headers; it runs in the VM after the
# harness, and its KTAP results count in the final line.
kselftest: kernel-debug
	@scripts/build-kselftest "$$(cat build/kdir-debug)" build/kselftest >build/kselftest-bin
	@echo "kselftest: $$(cat build/kselftest-bin)"

# sparse on fs/checkpoint/ of the debug kernel (its fields are __le*).
sparse: kernel-debug
	@scripts/check-sparse "$$(cat build/kdir-debug)"

initramfs-debug: module-debug samples kselftest
	@KSELFTEST="$$(cat build/kselftest-bin)" scripts/mkinitramfs "$$(cat build/ko-debug)" \
		build/initramfs-debug.cpio >/dev/null

initramfs-bench: module-criu samples
	@CRIU=/usr/sbin/criu GNU_TAR=/bin/tar GNU_GZIP=/bin/gzip \
		scripts/mkinitramfs "$$(cat build/ko-criu)" build/initramfs-bench.cpio >/dev/null

initramfs-nockpt: module-nockpt samples
	@scripts/mkinitramfs "$$(cat build/ko-nockpt)" build/initramfs-nockpt.cpio >/dev/null

# The VM suite on the debug kernel; the last line is "N passed, N failed"
# (VM cases + host cargo tests).
# Two more boots of the debug kernel migrate a process and its ramfs_cr
# mount: the first writes the image to its second serial port (a cpio
# archive), the second boots with that archive appended to its initramfs
# and restores it (make check FILTER=ckpt-migrate runs just these).
# A second, short VM run boots the kernel built without CONFIG_CHECKPOINT
# with the module built against it (directories then use
# simple_dir_operations) and runs the file-system cases there.
check: deps kernel-debug module-debug kernel-nockpt module-nockpt samples \
		host-test sparse initramfs-debug initramfs-nockpt
	@$(MAKE) vm-check

# Each run has its own console log (several people may share one checkout);
# build/vm/console-check.log points at the latest.
vm-check:
	@mkdir -p $(VMLOG)
	@log=$(VMLOG)/console-check.$$(date +%Y%m%d-%H%M%S).$$$$.log; logs=; \
	case "$$FILTER" in ckpt-migrate*|ckpt-big*) ;; *) \
	scripts/run-vm -k "$$(cat build/kdir-debug)" -i build/initramfs-debug.cpio \
		-l $$log -t $(VM_TIMEOUT) $${FILTER:+-f "$$FILTER"} check || true; \
	ln -sfn $$(basename $$log) $(VMLOG)/console-check.log; \
	logs=$$log ;; esac; \
	case "$$FILTER" in ""|ckpt-migrate*) \
		mig=$(VMLOG)/migrate.$$$$; \
		scripts/run-vm -k "$$(cat build/kdir-debug)" -i build/initramfs-debug.cpio \
			-l $$mig.save.log -o $$mig.cpio -t 900 -f "ckpt-migrate: save" check >/dev/null || true; \
		scripts/run-vm -k "$$(cat build/kdir-debug)" -i build/initramfs-debug.cpio \
			-l $$mig.restore.log -c $$mig.cpio -t 900 -f "ckpt-migrate: restore" check >/dev/null || true; \
		rm -f $$mig.cpio; logs="$$logs $$mig.save.log $$mig.restore.log" ;; esac; \
	case "$$FILTER" in ""|ckpt-big*) \
		big=$(VMLOG)/big.$$$$.log; \
		RAMFS_CR_VM_MEM=4096 scripts/run-vm -k "$$(cat build/kdir-debug)" -i build/initramfs-debug.cpio \
			-l $$big -t 1800 -f "ckpt-big:" check >/dev/null || true; \
		logs="$$logs $$big" ;; esac; \
	if [ -z "$$FILTER" ] && [ -s build/initramfs-nockpt.cpio ]; then \
		nlog=$(VMLOG)/console-check-nockpt.$$(date +%Y%m%d-%H%M%S).$$$$.log; \
		scripts/run-vm -k "$$(cat build/kdir-nockpt)" -i build/initramfs-nockpt.cpio \
			-l $$nlog -t 900 -f "ramfs_cr:" check >/dev/null || true; \
		logs="$$logs $$nlog"; \
	fi; \
	echo "==== results ($$logs) ===="; \
	$(BIN)/ktap-runner --cargo-log build/host-tests.log $$logs

# Every prefix of patches/series builds (about 45 minutes for v5; not in make check).
bisect-check: deps
	@scripts/check-bisect

# The restart(2) fuzz pass alone, longer (Documentation/hardening.rst).
FUZZ_N ?= 10000
FUZZ_SEED ?=
fuzz: deps kernel-debug module-debug samples initramfs-debug
	@mkdir -p $(VMLOG)
	@log=$(VMLOG)/console-fuzz.$$(date +%Y%m%d-%H%M%S).$$$$.log; \
	scripts/run-vm -k "$$(cat build/kdir-debug)" -i build/initramfs-debug.cpio \
		-l $$log -t $$(( $(VM_TIMEOUT) > 600 + $(FUZZ_N) / 20 ? $(VM_TIMEOUT) : 600 + $(FUZZ_N) / 20 )) -- \
		'CR_FUZZ_N=$(FUZZ_N) $(if $(FUZZ_SEED),CR_FUZZ_SEED=$(FUZZ_SEED)) cr-harness ckpt-fuzz:; rc=$$?; \
		if [ -w /sys/kernel/debug/kmemleak ]; then sleep 6; echo scan >/sys/kernel/debug/kmemleak; sleep 1; \
		echo scan >/sys/kernel/debug/kmemleak; echo "ramfs_cr-init: kmemleak report begin"; \
		cat /sys/kernel/debug/kmemleak; echo "ramfs_cr-init: kmemleak report end"; fi; exit $$rc' || true; \
	ln -sfn $$(basename $$log) $(VMLOG)/console-fuzz.log; \
	echo "==== results ($$log) ===="; \
	$(BIN)/ktap-runner $$log

demo: initramfs
	@scripts/run-vm -k "$$(cat build/kdir-base)" -i build/initramfs-base.cpio \
		-l $(VMLOG)/console-demo.log -t 600 demo

bench: initramfs-bench
	@if [ ! -x $(BIN)/cr-bench ]; then \
		echo "make bench: not yet: samples/ has no cr-bench program yet"; exit 1; fi
	@mkdir -p $(VMLOG)
	@# icount: guest time counts guest instructions (1 ns each), host load does
	@# not show. wall: real time; the guest's TSC calibration fails under a
	@# loaded TCG host (then it times with 4 ms jiffies), so tell it the
	@# host's TSC rate, which TCG passes through.
	@if [ "$(BENCH_CLOCK)" = icount ]; then \
		export RAMFS_CR_VM_ICOUNT=1 RAMFS_CR_VM_APPEND="tsc_early_khz=1000000 tsc=reliable ramfs_cr.bench_clock=icount"; \
	else khz=$$(awk '/^cpu MHz/ {printf "%d", $$4 * 1000; exit}' /proc/cpuinfo); \
		export RAMFS_CR_VM_APPEND="$${khz:+tsc_early_khz=$$khz tsc=reliable }ramfs_cr.bench_clock=wall"; fi; \
	scripts/run-vm -k "$$(cat build/kdir-criu)" -i build/initramfs-bench.cpio \
		-l $(VMLOG)/console-bench-$(BENCH_CLOCK).log -t 5400 bench
	@tr -d '\r' <$(VMLOG)/console-bench-$(BENCH_CLOCK).log | \
		sed -n '/^BENCH-JSON-BEGIN$$/,/^BENCH-JSON-END$$/p' | sed '1d;$$d' >build/bench-$(BENCH_CLOCK).json
	@if [ -s build/bench-$(BENCH_CLOCK).json ]; then cp build/bench-$(BENCH_CLOCK).json build/bench.json; \
		echo "bench: wrote build/bench.json (BENCH_CLOCK=$(BENCH_CLOCK))"; \
	else echo "bench: no JSON in $(VMLOG)/console-bench-$(BENCH_CLOCK).log"; exit 1; fi

CMD ?= uname -a
vm: initramfs
	@scripts/run-vm -k "$$(cat build/kdir-base)" -i build/initramfs-base.cpio -t $(VM_TIMEOUT) -- '$(CMD)'

shell: initramfs
	@scripts/run-vm -k "$$(cat build/kdir-base)" -i build/initramfs-base.cpio -t 86400 shell

rust-analyzer: kernel
	@scripts/rust-analyzer "$$(cat build/kdir-base)"

# Every module build already lints (scripts/build-module: CLIPPY=1, warnings
# are errors); this forces a rebuild of the base module to see the output.
clippy: module
	@m=$(CURDIR)/build/module/$$(basename "$$(cat build/kdir-base)"); touch $$m/rust/ramfs_cr.rs; \
	scripts/kmake "$$(cat build/kdir-base)" M=$$m CLIPPY=1 KRUSTFLAGS=-Dwarnings modules

clean:
	rm -rf build
	@cd samples && rm -rf target

clean-cache:
	@. scripts/lib.sh && echo "rm -rf $$RAMFS_CR_CACHE/kernel" && rm -rf "$$RAMFS_CR_CACHE/kernel"
