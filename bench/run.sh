#!/usr/bin/env bash
# One command for the performance comparison (docs/performance.md):
#   bench/run.sh            ckeras W1-W4 (infer + train) with OPENBLAS_CORETYPE as the
#                           environment sets it and with it unset, the "only the sgemm calls"
#                           bound for both kernel sets, plus PyTorch and oneDNN on the same
#                           workloads when they are installed, in two interleaved rounds
#                           (the table pools them); one table, ending with
#                           ckeras end to end: process start, model load, CLI predict
#                           on 128 sequences against its compute, batch-1 threads.
#   QUICK=1 bench/run.sh    shorter timing (smoke run)
# Peers need: python3-torch libtcmalloc-minimal4 (PyTorch), libdnnl-dev g++ (oneDNN).
# Results: bench/out/<stamp>/ (*.jsonl records, table.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=$ROOT/../shared/bench
WORKLOADS=$SHARED/workloads.json
[[ -f $WORKLOADS ]] || { echo "bench: $WORKLOADS not found (the shared folder is needed)" >&2; exit 1; }
QUICK=${QUICK:-0}
SECS=$([[ $QUICK == 1 ]] && echo 0.3 || echo 1.5)
OUT=$ROOT/bench/out/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "build (Release)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCK_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target ckeras_bench ckeras_e2e ckeras >/dev/null
sleep 2   # let the machine settle after compiling

PY=/usr/bin/python3
HAVE_TORCH=0; $PY -c "import torch" 2>/dev/null && HAVE_TORCH=1
HAVE_DNNL=0
if [[ -f /usr/include/oneapi/dnnl/dnnl.hpp ]] && command -v g++ >/dev/null; then
  log "build oneDNN's benchmark"
  g++ -O3 -march=native -fopenmp -o build-bench/bench_onednn "$SHARED/bench_onednn.cpp" -ldnnl &&
    HAVE_DNNL=1
fi
[[ $HAVE_TORCH == 1 ]] || log "PyTorch not installed (apt-get install python3-torch): skipped"
[[ $HAVE_DNNL == 1 ]] || log "oneDNN not installed (apt-get install libdnnl-dev g++): skipped"
TC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
PRE=(); [[ -f $TC ]] && PRE=(LD_PRELOAD=$TC)
DNNL_ARGS=$(cd "$SHARED" && $PY common.py onednn-args)
gcc -O2 -march=native -o build-bench/bench_sgemm "$SHARED/bench_sgemm.c" \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm
(cd "$SHARED" && $PY common.py plan) >build-bench/plan.txt

# Every system runs once per round and the rounds alternate, as in the peers'
# run_all.sh: the speed of this virtual machine shifts by up to 30% within
# minutes, and a shift then reaches every system of the table alike. The
# sgemm bound is one of them: measured once after the rounds, it met another
# stretch of the machine than the systems it bounds.
env_core=${OPENBLAS_CORETYPE:-unset}
ROUNDS=$([[ $QUICK == 1 ]] && echo 1 || echo 2)
for r in $(seq 0 $((ROUNDS - 1))); do
  log "round $((r + 1)) of $ROUNDS: ckeras (OPENBLAS_CORETYPE=$env_core, then unset)"
  keep_env=/dev/null; keep_auto=/dev/null
  [[ $r == 0 ]] && keep_env=$OUT/ckeras_env.txt && keep_auto=$OUT/ckeras_auto.txt
  ./build-bench/ckeras_bench --workloads "$WORKLOADS" --target-s "$SECS" --round "$r" \
    --system "ckeras-relu:core=$env_core" --jsonl "$OUT/ckeras.jsonl" | tee "$keep_env"
  env -u OPENBLAS_CORETYPE ./build-bench/ckeras_bench --workloads "$WORKLOADS" --target-s "$SECS" \
    --round "$r" --system "ckeras-relu:core=auto" --jsonl "$OUT/ckeras.jsonl" | tee "$keep_auto"
  env -u OPENBLAS_CORETYPE ./build-bench/ckeras_bench --workloads "$WORKLOADS" --target-s "$SECS" \
    --round "$r" --variant tanh --system "ckeras-tanh:core=auto" --jsonl "$OUT/ckeras.jsonl" >/dev/null
  if [[ $HAVE_TORCH == 1 ]]; then
    log "round $((r + 1)) of $ROUNDS: PyTorch (tuned: OMP_WAIT_POLICY=PASSIVE, tcmalloc)"
    (cd "$SHARED" && env OMP_WAIT_POLICY=PASSIVE "${PRE[@]}" $PY bench_torch.py --threads 2 \
       --tag +tuned --target-s "$SECS" --min-reps 10 --round "$r") >>"$OUT/torch.jsonl" \
      2>>"$OUT/torch.log" || log "torch failed"
  fi
  if [[ $HAVE_DNNL == 1 ]]; then
    log "round $((r + 1)) of $ROUNDS: oneDNN"
    env OMP_NUM_THREADS=2 ./build-bench/bench_onednn $DNNL_ARGS --target-s 1 --min-reps 10 \
      --round "$r" >>"$OUT/onednn.jsonl" 2>>"$OUT/onednn.log" || log "oneDNN failed"
  fi
  # The FMA microkernel (the machine's peak) once, in the first round.
  log "round $((r + 1)) of $ROUNDS: sgemm bound (the GEMM calls alone, shared/bench/bench_sgemm.c)"
  micro=(); [[ $r == 0 ]] || micro=(--no-micro)
  ./build-bench/bench_sgemm "${micro[@]}" --tag env <build-bench/plan.txt \
    >>"$OUT/sgemm.jsonl" 2>>"$OUT/sgemm.log" || log "sgemm (env) failed"
  env -u OPENBLAS_CORETYPE ./build-bench/bench_sgemm --no-micro --tag autodetect \
    <build-bench/plan.txt >>"$OUT/sgemm.jsonl" 2>>"$OUT/sgemm.log" || log "sgemm (autodetect) failed"
done

MODEL=$ROOT/../shared/fixtures/keras/hanh_action.h5
log "ckeras end to end (load, CLI predict, batch-1 threads; OPENBLAS_CORETYPE unset)"
E2E_ARGS=(--model "$MODEL" --dir "$OUT" --jsonl "$OUT/e2e.jsonl")
# The lean static tool (docs/getting-started.md: stripped, and built only
# when the static archives are there; the default tool takes them when it
# can); its rows are left out when it cannot be built.
if cmake -S . -B build-bench-static -DCMAKE_BUILD_TYPE=Release -DCK_STATIC_CLI=ON \
     -DCK_BUILD_TESTS=OFF >/dev/null && cmake --build build-bench-static -j2 --target ckeras >/dev/null; then
  E2E_ARGS+=(--static-cli build-bench-static/ckeras)
else
  log "static tool not built: its rows are left out"
fi
[[ $QUICK == 1 ]] && E2E_ARGS+=(--reps 5 --seconds 0.5)
env -u OPENBLAS_CORETYPE ./build-bench/ckeras_e2e "${E2E_ARGS[@]}" >"$OUT/e2e.txt" ||
  log "ckeras end to end failed"

log "table"
{ (cd "$SHARED" && $PY common.py table "$OUT"/*.jsonl); echo; cat "$OUT/e2e.txt"; } |
  tee "$OUT/table.txt"
log "results in $OUT"
