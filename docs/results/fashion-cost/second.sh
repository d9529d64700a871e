#!/bin/bash
# A second forget set (class 7) on the same original, with the first audit's bank home: its 8 IN references are reused.
cd /work/main
export DAU_HOME=/work/bench/cost5/work/first-home-1796328526 OMP_NUM_THREADS=1
date; uptime
s=$(date +%s.%N)
/work/venv/bin/python -m dau_cli audit /work/bench/cost5/work/models/original-0.pt --classes 7 --json --device cpu --references 8 --workers 2 > /work/bench/cost5/second-class7.json
e=$(date +%s.%N)
echo "second_audit_s $(echo "$e - $s" | bc)"
uptime
