"""Gradient norms of GA's or SCRUB's steps, unclipped: `python norms.py CKPT CLASS|r METHOD SEED`
(r: random 10 %). Needs clip.diff applied (`git apply clip.diff`): it sets METHOD.max_norm=1e6, a
clip that never binds, and records the norm that torch's clip_grad_norm_ returns at every step."""
import sys, torch
norms = []
real = torch.nn.utils.clip_grad_norm_
def spy(params, max_norm, *a, **k):
    n = real(params, max_norm, *a, **k); norms.append(float(n)); return n
torch.nn.utils.clip_grad_norm_ = spy
from dau_cli.cli import app  # noqa
ckpt, cls, m, seed = sys.argv[1:5]
forget = ["-c", cls] if cls != "r" else ["--random", "0.1"]
try:
    app(["forget", ckpt, *forget, "-m", m, "--seed", seed, "--set", f"{m}.max_norm=1e6", "-o", f"/tmp/norms-{m}.pt", "--force"], standalone_mode=False)
except BaseException as e:
    print("stopped:", e)
print(ckpt.split("/")[-3], cls, m, seed, "max norm %.3g over %d steps" % (max(norms), len(norms)), "first", " ".join(f"{x:.3g}" for x in norms[:12]))
