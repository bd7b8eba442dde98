"""perf script output -> the top N stacks folded to chargegate's own frames (outermost to
innermost, at most 4) and the group of the leaf (perf_fold.py's groups). Usage:
perf script --no-inline -F comm,tid,time,ip,sym,dso | python3 perf_fold_ours.py [N]"""
import re,collections,sys,os
TOP=int(sys.argv[1]) if len(sys.argv)>1 else 15; sys.argv=['x']
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),'perf_fold.py')).read().split("def main")[0])
def short(s):
    s=re.sub(r"::\{\{closure\}\}","",s); s=re.sub(r"<([^<>]*)>","",s); s=re.sub(r"<([^<>]*)>","",s)
    return s.replace("chargegate::","")
c=collections.Counter(); tot=0
for comm,stack in parse(sys.stdin):
    tot+=1
    ours=[]
    for s,_ in reversed(stack):
        if 'chargegate::' in s:
            t=short(s)
            if not ours or ours[-1]!=t: ours.append(t)
    g=None
    for s,_ in stack:
        g=group_of(s)
        if g: break
    if stack[0][1] and g not in ("fsync/fdatasync","socket syscalls","tokio scheduling/park"): g="kernel ("+(g or "other")+")"
    c[re.sub(r"\d+$","",comm)+";"+";".join(ours[-4:])+" -> ["+(g or "own code/std")+"]"]+=1
for k,n in c.most_common(TOP): print(f"{n:5d} {100*n/tot:5.1f} %  {k}")
