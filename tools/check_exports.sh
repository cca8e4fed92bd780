#!/bin/sh
# SPDX-License-Identifier: MIT
# check_exports.sh LIB - fails if the library exports anything beyond the
# malloc family, glibc's introspection calls and poolalloc_*: hidden
# visibility must hold. And fails if the library holds, even as a local
# symbol (nm, not nm -D), a function of the wire format's client half: every
# function declared in wire/proto_read.h (the reply parser) and
# wire/render.h (the renderers) is poolstat's alone.
set -eu
extra=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v -E \
  '^(malloc|free|calloc|realloc|reallocarray|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|malloc_usable_size|cfree|malloc_trim|mallopt|mallinfo|mallinfo2|malloc_stats|malloc_info|poolalloc_[a-z_]+)$' || true)
if [ -n "$extra" ]; then
    echo "check-exports: unexpected exported symbols:" $extra >&2
    exit 1
fi
echo "check-exports: $(nm -D --defined-only "$1" | wc -l) symbols, all malloc family, glibc introspection or poolalloc_*"

# The client-only names, read from their headers: a function declaration
# starts a line with its type and names the function before its "(".
top=$(cd "$(dirname "$0")/.." && pwd)
client=$(sed -n 's/^[a-z][a-z0-9_ ]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' \
    "$top/wire/proto_read.h" "$top/wire/render.h" | sort -u)
if [ -z "$client" ]; then
    echo "check-exports: no function declared in wire/proto_read.h or wire/render.h" >&2
    exit 1
fi
held=$(nm --defined-only "$1" | awk '{print $3}' | grep -x -F "$client" || true)
if [ -n "$held" ]; then
    echo "check-exports: client-only code (reply parser, renderers) in the library:" $held >&2
    exit 1
fi
echo "check-exports: none of the $(echo "$client" | wc -l) client-only functions (wire/proto_read.h, wire/render.h) in the library"
