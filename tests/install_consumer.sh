#!/usr/bin/env bash
# CTest entry: `cmake --install` this build into a temporary prefix, build examples/consumer
# against it with find_package(attnd) (installed headers and library only: the source tree is not
# visible to it), and run it.   install_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/attnd-install-XXXXXX")
trap 'rm -rf "$work"' EXIT

step() {  # step NAME COMMAND...: runs it quietly; on failure shows its output and stops
  local name=$1
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "install_consumer: $name failed: $*" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
}

step install cmake --install "$build_dir" --prefix "$work/prefix"
test -f "$work/prefix/lib/cmake/attnd/attndConfig.cmake"
test -f "$work/prefix/lib/cmake/attnd/attndConfigVersion.cmake"
test -f "$work/prefix/include/attnd/models/model.h"

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
step configure cmake -S "$source_dir/examples/consumer" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}"
step build cmake --build "$work/build" -j 2
if grep -rq -- "$source_dir/include" "$work/build"/*.ninja "$work/build"/CMakeFiles 2>/dev/null; then
  echo "install_consumer: the consumer's build reads attnd's source tree, not the install" >&2
  exit 1
fi
"$work/build/attnd_consumer" "$work/model"
test -f "$work/model/model.safetensors"
echo "install_consumer: find_package(attnd) at $work/prefix, attnd_consumer built and ran"
