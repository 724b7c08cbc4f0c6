#!/bin/sh
# `make demo`, run by /init in the VM: checkpoint a process that holds open
# ramfs_cr files and a directory, kill it, restart its files into a new
# process and show that it carries on where the first one stopped.
set -e
step() { echo; echo "=== $*"; }
fail() { echo "DEMO FAILED: $*"; exit 1; }

step "load ramfs_cr and mount it on /mnt/cr"
insmod /lib/modules/ramfs_cr.ko
mkdir -p /mnt/cr
mount -t ramfs_cr -o mode=0755 none /mnt/cr
grep ' /mnt/cr ' /proc/mounts
mkdir /mnt/cr/dir
for i in 1 2 3 4 5; do echo "file $i" >/mnt/cr/dir/f$i; done
printf 'line 1\nline 2\nline 3\n' >/mnt/cr/notes.txt
: >/mnt/cr/empty

step "start a worker: fd 3 reads notes.txt, fd 4 is the open directory, fd 5 appends to log.txt, cwd /mnt/cr/dir"
# All of its fds are on ramfs_cr (stdin, stdout and stderr too), so the whole
# process state the kernel checkpoints is there.
sh -c '
	exec 0</mnt/cr/empty 1>>/mnt/cr/worker.out 2>&1
	exec 3</mnt/cr/notes.txt 4</mnt/cr/dir 5>>/mnt/cr/log.txt
	cd /mnt/cr/dir
	read first <&3
	echo "worker $$: read \"$first\" from fd 3"
	echo "worker $$: first 3 entries of the open directory (fd 4): $(ckpt readdir 4 --count 3 | tr "\n" " ")"
	echo "worker $$ was here" >&5
	kill -STOP $$
	echo "worker $$: not reached (it is killed while stopped)"
' &
pid=$!
for i in $(seq 1 50); do
	[ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" = T ] && break
	sleep 0.1
done
[ "$(cut -d' ' -f3 /proc/$pid/stat)" = T ] || fail "worker did not stop"
echo "worker pid $pid is stopped; its fds:"
ls -l /proc/$pid/fd | sed -n 's/.*[0-9] \([0-9]* -> .*\)/  \1/p'
echo "  cwd -> $(readlink /proc/$pid/cwd)"
grep pos /proc/$pid/fdinfo/3 | sed 's/^/  fd 3 /'

step "ckpt checkpoint --pid $pid --out /tmp/demo.ckpt --log /tmp/ckpt.log"
ckpt checkpoint --pid $pid --out /tmp/demo.ckpt --log /tmp/ckpt.log
echo "image: $(wc -c </tmp/demo.ckpt) bytes"

step "ckpt inspect /tmp/demo.ckpt"
ckpt inspect /tmp/demo.ckpt

step "kill the worker"
kill -9 $pid
wait $pid 2>/dev/null || true
[ -d /proc/$pid ] && fail "worker still there"
echo "worker $pid is gone"

step "ckpt restart --in /tmp/demo.ckpt -- sh -c '...': a new process gets the worker's fds back"
ckpt restart --in /tmp/demo.ckpt -- sh -c '
	echo "restarted as pid $$, cwd $(readlink /proc/$$/cwd)"
	for fd in 0 1 2 3 4 5; do echo "  fd $fd -> $(readlink /proc/$$/fd/$fd)"; done
	read next <&3
	echo "read \"$next\" from fd 3: the offset survived"
	echo "rest of the open directory (fd 4): $(ckpt readdir 4 | tr "\n" " ")"
	echo "restarted $$ was here" >&5
'
echo "(the restarted process wrote to its restored stdout, /mnt/cr/worker.out)"

step "cat /mnt/cr/worker.out"
cat /mnt/cr/worker.out
step "cat /mnt/cr/log.txt"
cat /mnt/cr/log.txt

grep -q 'read "line 2" from fd 3' /mnt/cr/worker.out || fail "restarted process did not continue at line 2"
grep -q 'cwd /mnt/cr/dir' /mnt/cr/worker.out || fail "cwd not restored"
# The directory listing goes on where it stopped: the two halves together
# are exactly one full listing (7 entries: ., .., f1..f5), nothing twice.
first=$(sed -n 's/.*first 3 entries of the open directory (fd 4): //p' /mnt/cr/worker.out)
rest=$(sed -n 's/^rest of the open directory (fd 4): //p' /mnt/cr/worker.out)
exec 6</mnt/cr/dir
full=$(ckpt readdir 6 | tr "\n" " ")
exec 6<&-
[ "$first$rest" = "$full" ] || fail "directory listing: \"$first\" + \"$rest\" is not \"$full\""
echo "directory listing resumed: \"$first\" + \"$rest\" = one full listing"
[ "$(wc -l </mnt/cr/log.txt)" -eq 2 ] || fail "log.txt should have 2 lines"

step "unmount and unload"
umount /mnt/cr
rmmod ramfs_cr
echo
echo "DEMO OK: the process's open files, offsets, directory and cwd on ramfs_cr were checkpointed and restarted"
