"""Makes the tables of docs/results.md, "DAU's default, chosen again", from the JSON lines here (run it
in this folder). Rows marked † ran before commit dbf9d41, on f531563's code (A and C: f531563 plus
the dau.attacker_view setting), where `dau.epochs` counted the repair epochs too and also set the
length of random forgetting; every other row ran on dbf9d41 (`dau.repair_steps`, `dau.sample_epochs`)."""
import json, statistics as st

NAMES = {
    "dau": "† before: 20 epochs, B_r = 2·B_f, calibration 2048",
    "e10r03": "† 10 epochs, repair lr 0.03", "e10r05": "† 10 epochs, repair lr 0.05",
    "e8r05c1k": "† 8 epochs, repair lr 0.05, calibration 1024", "rr1": "† B_r = B_f",
    "rr1c512": "† B_r = B_f, calibration 512", "lr02": "† game lr 0.02", "rr1e12": "† B_r = B_f, 12 epochs",
    "e12": "† 12 epochs", "A": "† B_r = B_f, calibration 512, attacker_view=batch",
    "B": "† B_r = B_f/2, calibration 512", "C": "† B_r = B_f/2, calibration 512, attacker_view=batch",
    "D": "† B_r = B_f, calibration 512, 16 epochs", "E": "† B_r = B_f/2, calibration 512, 16 epochs",
    "F": "† B_r = B_f, calibration 512, 14 epochs, repair lr 0.025", "G": "† B_r = B_f, calibration 512, 14 epochs",
    "H": "† B_r = B_f, calibration 256, 16 epochs", "rs20": "**default: 20 repair steps**",
    "rs40": "40 repair steps", "rr1e3": "† 3 epochs", "rr1e5": "† 5 epochs", "rr1e8": "† 8 epochs",
    "rr1e16": "† 16 epochs", "e3": "sample_epochs 3", "e5": "**default: sample_epochs 5**", "e8": "sample_epochs 8",
    "e20": "sample_epochs 20", "V1": "calibration 256, attacker warm-up 50",
    "V2": "calibration 256, attacker warm-up 50, B_f = 64"}
DROP = {"rh", "hb"}  # settings tried and removed (docs/results.md says what they did)


def ms(v):
    return f"{st.fmean(v):.2f} ± {st.stdev(v) if len(v) > 1 else 0:.2f}"


def table(file, names=None, judged=True):
    rows = [json.loads(line) for line in open(file)]
    order = list(dict.fromkeys(r["variant"] for r in rows if r["variant"] not in DROP))
    cols = [("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia_efficacy", "MIA-Eff."), ("avg_gap", "Avg. Gap")]
    if judged:
        cols += [("relearn_20", "relearn 20"), ("relearn_40", "relearn 40"), ("output_z", "output z")]
    cols += [("wall_time_s", "wall (s)")]
    out = ["| variant | " + " | ".join(c for _, c in cols) + " | image passes |" + (" verdicts |" if judged else ""),
           "|" + "---|" * (len(cols) + 2 + judged)]
    for v in order:
        mine = [r for r in rows if r["variant"] == v]
        line = f"| {(names or NAMES).get(v, v)} | " + " | ".join(ms([r[k] for r in mine]) for k, _ in cols)
        line += f" | {st.fmean(r['image_passes'] for r in mine):,.0f} |"
        if judged:
            verdicts = [r["verdict"] for r in mine]
            line += " " + ", ".join(f"{k} {verdicts.count(k)}/{len(verdicts)}"
                                    for k in sorted(set(verdicts), key=lambda k: -verdicts.count(k))) + " |"
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    print("#### Class 3, dense, seeds 0–4 (choosing)\n\n" + table("class3-dense.jsonl") + "\n")
    print("#### Class 3, dense, seeds 5–7 (confirming)\n\n" + table("class3-dense-567.jsonl", {**NAMES, "dau": "† B_r = B_f, calibration 512, 14 epochs"}) + "\n")
    print("#### Class 8, dense, seeds 5–9 (confirming)\n\n" + table("class8-dense.jsonl", {**NAMES, "dau": "† B_r = B_f, calibration 512, 14 epochs"}) + "\n")
    print("#### Random 10 %, dense, seeds 0–4 (choosing)\n\n" + table("random-dense.jsonl", judged=False) + "\n")
    print("#### Random 10 %, 90 % OMP-sparse, seeds 0–4 (choosing)\n\n" + table("random-sparse.jsonl", judged=False) + "\n")
    default = {**NAMES, "dau": "**default (sample_epochs 5)**"}
    print("#### Random 10 %, dense, seeds 5–7 (confirming)\n\n" + table("random-dense-567.jsonl", default, judged=False) + "\n")
    print("#### Random 10 %, 90 % OMP-sparse, seeds 5–7 (confirming)\n\n" + table("random-sparse-567.jsonl", default, judged=False))
