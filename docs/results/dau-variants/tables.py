"""Makes the tables of docs/results.md, "DAU variants", from the JSON lines here: run it in this folder."""
import json,statistics as st,sys,glob
def load(files): return [json.loads(l) for f in files for l in open(f)]
def ms(v): return f"{st.fmean(v):.2f} ± {st.stdev(v) if len(v)>1 else 0:.2f}"
RENAME={"dau":"dau, repair lr 0.01 (before)","r0.02e20":"**dau (default: repair lr 0.02)**","authors":"**dau-authors**",
 "authors-eval":"dau-authors, attacker_bn=eval","authors-15":"dau-authors, 15 steps (3 passes)","authors-reinit":"dau-authors, head rows re-initialised",
 "dau-reinit":"dau (0.01), head rows re-initialised","dau-repair05":"dau, repair lr 0.05 (first run)", "r0.02e10":"dau, repair lr 0.02, 10 epochs","r0.03e10":"dau, repair lr 0.03, 10 epochs","r0.03e20":"dau, repair lr 0.03","r0.05e10":"dau, repair lr 0.05, 10 epochs","r0.05e20":"dau, repair lr 0.05","dau-5":"dau, 5 epochs","dau-10":"dau, 10 epochs"}
def tab(files, seeds, order=None, relearn=True, skip=("dau-repair05",)):
    rows=load(files); seen=[]
    for r in rows:
        if r['variant'] not in seen and r['variant'] not in skip: seen.append(r['variant'])
    if order: seen=[v for v in order if v in seen]+[v for v in seen if v not in order]
    cols=[('ua','UA'),('ra','RA'),('ta','TA'),('mia_efficacy','MIA-Eff.'),('avg_gap','Avg. Gap ↓')]
    if relearn: cols+= [('relearn_10','relearn 10'),('relearn_20','relearn 20'),('relearn_40','relearn 40')]
    cols+=[('wall_time_s','wall (s)')]
    out=["| variant | "+" | ".join(c[1] for c in cols)+" | image passes |","|"+"---|"*(len(cols)+2)]
    for v in seen:
        rr={}
        for r in rows:
            if r['variant']==v and r['seed'] in seeds: rr[r['seed']]=r
        rr=list(rr.values())
        if not rr: continue
        cells=[ms([r[k] for r in rr]) if k in rr[0] else '–' for k,_ in cols]
        out.append(f"| {RENAME.get(v,v)} | "+" | ".join(cells)+f" | {st.fmean([r['image_passes'] for r in rr]):,.0f} |")
    return "\n".join(out)
order=["retrain","original","r0.02e20","dau","authors","authors-eval","authors-15","authors-reinit","dau-reinit","dau-repair05","r0.02e10","r0.03e10","r0.03e20","r0.05e10","r0.05e20","ft","ga","rl","l1","salun","scrub"]
S5={0,1,2,3,4}; S3={5,6,7}
print("#### Class 3, dense, seeds 0–4 (tuning)\n"); print(tab(["L-dense-class3.jsonl","A-dense-class3.jsonl","R-dense-class3-a.jsonl","R-dense-class3-b.jsonl"],S5,order)); print()
print("#### Class 3, 90 % OMP-sparse, seeds 0–4\n"); print(tab(["L-sparse-class3.jsonl","A-sparse-class3.jsonl","R-sparse-class3-a.jsonl","R-sparse-class3-b.jsonl"],S5,order)); print()
print("#### Confirmation: class 3, dense, seeds 5–7\n"); print(tab(["R-dense-class3-c.jsonl"],S3,order)); print()
print("#### Confirmation: class 8, dense, seeds 5–7\n"); print(tab(["R-dense-class8.jsonl","C-dense-class8.jsonl"],S3,order)); print()
print("#### Random 10 %, dense, seeds 0–4\n"); print(tab(["L-dense-random.jsonl","A-dense-random.jsonl"],S5,list(dict.fromkeys(["retrain","original","dau","dau-5","dau-10"]+order)),relearn=False).replace("dau, repair lr 0.01 (before)","**dau (default)**")); print()
print("#### Random 10 %, 90 % OMP-sparse, seeds 0–4\n"); print(tab(["L-sparse-random.jsonl","A-sparse-random.jsonl","R-sparse-random.jsonl"],S5,list(dict.fromkeys(["retrain","original","dau","dau-10"]+order)),relearn=False).replace("dau, repair lr 0.01 (before)","**dau (default)**")); print()
print("#### Confirmation: random 10 %, dense, seeds 5–7\n"); print(tab(["C-dense-random.jsonl","R-dense-random.jsonl"],S3,list(dict.fromkeys(["retrain","original","dau","dau-10"]+order)),relearn=False).replace("dau, repair lr 0.01 (before)","**dau (default)**"))
