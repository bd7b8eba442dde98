#!/bin/sh
# chargegate under heaptrack's preload library, keeping this process's pid: loadgen reads
# /proc/<pid> (VmRSS, descriptors) of the child it started and SIGKILLs it at the end,
# which `heaptrack <prog>` (a shell that forks the program) would break.
real=${CG_REAL:?set CG_REAL to the chargegate binary}
out=${CG_HEAP_OUT:-/tmp/heap.$(date +%H%M%S)}
pipe=/tmp/heaptrack-fifo.$$
mkfifo "$pipe"
# Reads until the daemon's end closes the pipe (also after SIGKILL), then writes the file.
/usr/lib/heaptrack/libexec/heaptrack_interpret < "$pipe" | zstd -q -c > "$out.zst" &
LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT="$pipe" exec "$real" "$@"
