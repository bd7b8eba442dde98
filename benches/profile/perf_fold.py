#!/usr/bin/env python3
"""perf script output -> per-thread sample counts, grouped categories (inclusive: the
stack contains a frame of the group; self: the leaf frame's group), top self frames, and
the top N folded stacks (root;...;leaf, trimmed of tokio/std scaffolding)."""
import re, sys, collections

N = int(sys.argv[1]) if len(sys.argv) > 1 else 15
# First match wins for "self"; order matters (store-side SQLite before syscalls, etc.).
GROUPS = [
    ("fsync/fdatasync", r"(^|\W)(sys_fsync|__x64_sys_fsync|__x64_sys_fdatasync|fsync|fdatasync|ext4_sync_file|jbd2)"),
    ("SQLite", r"^sqlite3|^rusqlite::|^pager|^btree|sqlite3VdbeExec|^vdbe"),
    ("schema validation", r"schema_check|jsonschema"),
    ("JSON parse", r"serde_json::de|serde_json::value::de|from_str|from_slice|from_value|Deserialize"),
    ("JSON serialise", r"serde_json::ser|serde_json::value::ser|to_string|to_value|Serialize"),
    ("tungstenite/WebSocket", r"tungstenite|tokio_tungstenite|FrameCodec|apply_mask"),
    ("tracing/logging", r"^tracing|tracing_subscriber|tracing_core"),
    ("malloc/free", r"^(malloc|free|realloc|calloc|_int_malloc|_int_free|_int_realloc|cfree|__libc_malloc|__libc_free|malloc_consolidate|__rust_alloc|__rust_dealloc|__rust_realloc|alloc::alloc)"),
    ("tokio scheduling/park", r"tokio::runtime::(scheduler|park|task|driver|io|time)|tokio::sync|epoll_wait|futex|mio::"),
    ("socket syscalls", r"tcp_|sock_|__sys_sendto|__sys_recvfrom|sys_write|sys_read|ksys_write|ksys_read|inet_|ip_|__send|__recv|netif|loopback"),
]
GROUPS = [(n, re.compile(p)) for n, p in GROUPS]
SCAFFOLD = re.compile(r"^(std::|core::|tokio::runtime::|<core::|<alloc::|alloc::|__GI___clone|start_thread|clone3?$|std::sys|_start|__libc_start|main$|<tokio::runtime|tokio::loom|<std::|<tokio::task|tokio::task)")

def clean(sym):
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    sym = re.sub(r"<([^<>]*) as ([^<>]*)>", r"<\1 as \2>", sym)
    return sym

def parse(f):
    comm, stack = None, []
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, stack
            comm, stack = None, []
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            # thread names with spaces: perf prints "comm pid/tid"; take up to the pid
            m = re.match(r"^(.*?)\s+\d+(/\d+)?\s", line)
            if m: comm = m.group(1).strip()
            stack = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2: continue
        sym = parts[1]
        dso = ""
        m = re.match(r"^(.*) \((.*)\)$", sym)
        if m: sym, dso = m.group(1), m.group(2)
        sym = clean(sym)
        if sym == "[unknown]": sym = "[unknown " + dso.split("/")[-1] + "]"
        stack.append((sym, "kernel" in dso))
    if comm is not None:
        yield comm, stack

def group_of(sym):
    for name, rx in GROUPS:
        if rx.search(sym): return name
    return None

def main():
    total = 0
    per_thread = collections.Counter()
    incl = collections.Counter(); selfg = collections.Counter()
    self_frames = collections.Counter(); incl_frames = collections.Counter()
    folded = collections.Counter()
    for comm, stack in parse(sys.stdin):
        if not stack: continue
        total += 1
        thread = re.sub(r"\d+$", "", comm) or comm
        per_thread[thread] += 1
        leaf, leaf_kernel = stack[0]
        # self group: the leaf, or for a kernel leaf the first group found walking out
        g = None
        for sym, _k in stack:
            g = group_of(sym)
            if g: break
        if leaf_kernel and g not in ("fsync/fdatasync", "socket syscalls", "tokio scheduling/park"):
            g = "kernel: other (" + (g or "?") + ")"
        selfg[g or "other (our code, std)"] += 1
        for name, rx in GROUPS:
            if any(rx.search(s) for s, _ in stack): incl[name] += 1
        self_frames[leaf] += 1
        for s in set(s for s, _ in stack): incl_frames[s] += 1
        frames = [s for s, _k in reversed(stack) if not SCAFFOLD.search(s)]
        # keep the leaf even if scaffolding, cap the depth for readability
        if not frames or frames[-1] != leaf: frames.append(leaf)
        if len(frames) > 10: frames = frames[:3] + ["..."] + frames[-6:]
        folded[thread + ";" + ";".join(frames)] += 1
    pct = lambda n: 100.0 * n / max(total, 1)
    print(f"samples: {total}")
    print("\n## samples per thread")
    for t, n in per_thread.most_common(): print(f"{pct(n):6.1f} %  {t}")
    print("\n## groups, inclusive (a frame of the group anywhere in the stack)")
    for t, n in incl.most_common(): print(f"{pct(n):6.1f} %  {t}")
    print("\n## groups, self (leaf frame's group)")
    for t, n in selfg.most_common(): print(f"{pct(n):6.1f} %  {t}")
    print("\n## top 25 self frames")
    for t, n in self_frames.most_common(25): print(f"{pct(n):6.1f} %  {t[:150]}")
    print("\n## top 40 inclusive frames")
    for t, n in incl_frames.most_common(40): print(f"{pct(n):6.1f} %  {t[:150]}")
    print(f"\n## top {N} folded stacks (thread;root..leaf, scaffolding dropped)")
    for t, n in folded.most_common(N): print(f"{n:6d} {pct(n):5.1f} %  {t}")

main()
