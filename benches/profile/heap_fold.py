"""heaptrack_print -F folded stacks (peak or leaked bytes) -> bytes summed per site: the
innermost two frames in chargegate's source files. Run from the repository root:
python3 benches/profile/heap_fold.py peak.folded [N]"""
import sys,re,collections,os
ours=set()
for d,_,fs in os.walk('src'):
    for f in fs:
        if f.endswith('.rs') and f not in ('mod.rs','lib.rs'): ours.add(f)
noise=re.compile(r"alloc|malloc|raw_vec|RawVec|reserve|grow|with_capacity|Box|box_new|clone|from_iter|collect|to_vec|to_owned|new_uninit|_rdl_|Vec|Global|spec_|extend|push|insert|__rust|realloc|allocate|calloc")
tot=collections.Counter()
for line in open(sys.argv[1]):
    stack,_,n=line.rstrip().rpartition(' ')
    n=int(n)
    fr=stack.split(';')
    ourf=[f for f in fr if (m:=re.search(r"\(([^()]*\.rs)\)$",f)) and m.group(1) in ours]
    lib=[f for f in fr if not noise.search(f.split(' (')[0])]
    leaf=lib[-1] if lib else fr[-1]
    key=" < ".join(reversed(ourf[-2:])) + "  ||  " + leaf
    tot[key]+=n
total=sum(tot.values())
print(f"total {total/1048576:.2f} MiB")
for k,n in tot.most_common(int(sys.argv[2]) if len(sys.argv)>2 else 30):
    print(f"{n/1024:9.1f} KiB  {k[:230]}")
