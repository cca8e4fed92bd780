#!/bin/sh
# SPDX-License-Identifier: MIT
# check_exports.sh LIB - fails if the library exports anything beyond the
# malloc family, glibc's introspection calls and poolalloc_*: hidden
# visibility must hold.
set -eu
extra=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v -E \
  '^(malloc|free|calloc|realloc|reallocarray|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|malloc_usable_size|cfree|malloc_trim|mallinfo|mallinfo2|malloc_stats|malloc_info|poolalloc_[a-z_]+)$' || true)
if [ -n "$extra" ]; then
    echo "check-exports: unexpected exported symbols:" $extra >&2
    exit 1
fi
echo "check-exports: $(nm -D --defined-only "$1" | wc -l) symbols, all malloc family, glibc introspection or poolalloc_*"
