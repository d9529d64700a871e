#!/bin/bash
# Item 5 of issue 24: every method's cost and the bank's, in one run, on an idle machine.
set -e
cd /work/main
export DAU_HOME=/work/bench/fashion/home   # the cached class-0 bank, so `models` trains no reference
B="/work/venv/bin/python benchmarks/audit_verdicts.py --recipe fashion-lenet --classes 0 --references 8 --originals 0 --fresh 0 --modes class --out /work/bench/cost5/out --work /work/bench/cost5/work"
date; uptime
$B --methods dau,retrain,ft,rl,l1,salun --workers 1 --phase models
date; uptime
$B --methods dau,retrain,ft,rl,l1,salun --workers 2 --phase first-audit
date; uptime
$B --methods dau,retrain,ft,rl,l1,salun --workers 2 --phase verdicts
date; uptime
