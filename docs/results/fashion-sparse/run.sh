#!/bin/bash
# Issue 24 item 6: class 0 on a 90 % OMP-sparse fashion-lenet, 3 seeds, 8 + 8 sparse references (resumable).
export PATH=/work/venv/bin:$PATH OMP_NUM_THREADS=1 DAU_HOME=/work/bench/fashion/home
cd /work/bench/sparse
O=/work/bench/fashion/work-c0/models/original-0.pt
[ -s fashion-omp90.pt ] || dau prune $O -m omp -s 0.9 -o fashion-omp90.pt --json > prune.json 2> prune.err
dau compare $O --classes 0 --seeds 0,1,2 --methods dau --sparse fashion-omp90.pt --references 8 --workers 2 -o compare > compare.txt 2>&1
echo SPARSEDONE
