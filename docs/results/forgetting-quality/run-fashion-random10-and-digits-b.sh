#!/bin/bash
# Issue 24 item 4: per-example forgetting quality on a fixed random 10 % of Fashion-MNIST, 8 seeds (resumable);
# then the digits variant confirmed on a second fixed random 10 % (r10b), 16 seeds.
export PATH=/work/venv/bin:$PATH DAU_HOME=/work/bench/fashion/home
cd /work/bench/fqr
O=/work/bench/fashion/work-c0/models/original-0.pt
if [ ! -s f10.txt ]; then
  dau forget $O --random 0.1 -m ft --seed 0 -o f10.pt --force > /dev/null 2>&1
  dau info f10.pt --indices f10.txt
fi
dau compare $O --indices f10.txt --seeds 8 --methods dau,ft,ga,scrub --workers 2 -o fashion > fashion.txt 2>&1
echo FASHIONDONE
export DAU_HOME=/work/bench/fq/home
dau compare /work/bench/digits/original-0.pt --indices /work/bench/fqv/r10b.txt --seeds 16 --workers 2 -o digits-b \
  --methods "dau,ft,ga,scrub,dau[dau.forget_batch=16,dau.retain_ratio=8],dau[dau.forget_batch=32,dau.retain_ratio=4,dau.sample_epochs=10]" > digits-b.txt 2>&1
echo DIGITSDONE
