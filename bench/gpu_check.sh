#!/usr/bin/env bash
# Every GPU figure the project still owes, in one call of at most 8 minutes on a GPU machine (the
# device tool), into one folder ($OUT there). Each part has its own time cap, so one slow part cannot
# starve the rest; a part that fails or runs out of time is logged and the next one starts.
#
# Here, first (the GPU machine reaches no package index and no ../shared):
#   bash bench/gpu_check.sh --prepare [--skip scipy,matplotlib]   # dependency wheels, the Alpaca sample
# Then one device call, carrying the payload:
#   run(command="bash bench/gpu_check.sh", carry=["bench/gpu_payload"], timeout_s=540)
# Its files come back as $OUT/gpu_check.log (everything), throughput.md, throughput.json and rest.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/.."
PAYLOAD=bench/gpu_payload
OUT=${OUT:-bench/results/gpu_check}
mkdir -p "$OUT"

# lorascope's dependencies beyond the image's torch, transformers, peft and accelerate, as wheels
# without their dependencies (numpy, packaging and the like come with the image); bitsandbytes (43 MB)
# does not fit the 64 MiB a call carries with these, so the QLoRA GPU test skips unless the image has it.
WHEELS="pydantic pydantic-core annotated-types typing-inspection scipy matplotlib contourpy cycler fonttools
kiwisolver pillow pyparsing python-dateutil pyyaml tqdm pytest iniconfig pluggy"
if [[ "${1:-}" == "--prepare" ]]; then
    # --prepare [--skip a,b]: leave out packages the image is known to have (the payload must stay
    # under 64 MiB with the repo; all of WHEELS come to about 63 MB)
    skip=",${3:-},"
    mkdir -p "$PAYLOAD/wheels"
    for name in $WHEELS; do
        [[ "$skip" == *",$name,"* ]] && continue
        python -m pip download --quiet --no-deps --only-binary=:all: --dest "$PAYLOAD/wheels" --python-version 3.11 \
            --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux_2_28_x86_64 "$name" || exit 1
    done
    cp ../shared/data/alpaca/alpaca_data_1k.sample.json "$PAYLOAD/"
    du -sh "$PAYLOAD"
    exit 0
fi

LOG="$OUT/gpu_check.log"
: >"$LOG"
part() {  # part NAME SECONDS COMMAND...: one capped part, its output in the log
    local name=$1 cap=$2
    shift 2
    echo "=== $name (cap ${cap}s) $(date -u +%FT%TZ)" | tee -a "$LOG"
    local started=$SECONDS
    timeout --kill-after=10 "$cap" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - started))s" | tee -a "$LOG"
}

part environment 20 bash -c 'nvidia-smi; python -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__, torch.cuda.get_device_name())"'
# the payload's wheels of what the image lacks, then lorascope itself without dependencies
part install 60 bash -c "python -m pip install --quiet --no-index --no-deps $PAYLOAD/wheels/*.whl && python -m pip install --quiet --no-deps --no-build-isolation -e . && lorascope --help >/dev/null"
# issue 22: the decoder at the GPU reference's shape (TinyLlama-1.1B, 8 × 512 tokens), then Alpaca with ablations
part throughput-long 120 python bench/train_throughput.py --workloads decoder --data long --layers 22 --length 512 \
    --batch 8 --examples 64 --no-ablations --out "$OUT/tp-long"
part throughput-alpaca 90 python bench/train_throughput.py --workloads decoder --methods lora --layers 22 --length 512 \
    --batch 8 --examples 128 --alpaca "$PAYLOAD/alpaca_data_1k.sample.json" --out "$OUT/tp-alpaca"
part pytest-gpu 60 python -m pytest -m gpu -s -q -p no:cacheprovider tests
part delta-svd 40 python bench/delta_svd.py --layers 22 --device cuda
part drift-cka 30 python bench/drift_cka.py --device cuda
part serving 60 bash -c "python bench/make_tinyllama.py $OUT/tinyllama-random && lorascope serve-bench examples/serving/tinyllama_1b_gpu.yaml base=$OUT/tinyllama-random prompts.count=16 repetitions=2 'batch_sizes=[1,4,16]' --out $OUT/serving"

cat "$OUT"/tp-*/table.md >"$OUT/throughput.md" 2>/dev/null
python -c "import json,glob; print(json.dumps([r for f in sorted(glob.glob('$OUT/tp-*/results.json')) for r in json.load(open(f))], indent=1))" >"$OUT/throughput.json" 2>/dev/null
rm -rf "$OUT/tinyllama-random" "$OUT"/tp-*/models "$OUT"/tp-*/runs "$OUT"/tp-*/data  # weights stay there
# at most 8 files come back: the rest (tables, CSVs, figures, environments) as one archive
tar czf "$OUT/rest.tar.gz" -C "$OUT" $(cd "$OUT" && ls -d tp-* serving 2>/dev/null) && rm -rf "$OUT"/tp-* "$OUT/serving"
echo "done: $OUT" | tee -a "$LOG"
