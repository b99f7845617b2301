#!/usr/bin/env bash
# spdx.sh [--check]: every source file of the clone (C and headers, shell
# scripts, the proto, the Makefile, debian/rules and the maintainer
# scripts: what git tracks) names its licence in an
# "SPDX-License-Identifier: Apache-2.0" line among its first five lines.
# Without --check, adds the line where it is missing (first line; after
# the #! line of a script, whose usage text printed from its own header
# lines moves one line down with it).  --check only lists the files without
# it, and fails when there is one.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
tag='SPDX-License-Identifier: Apache-2.0'
check=0
case "${1:-}" in
    --check) check=1 ;;
    '') ;;
    *) printf 'usage: %s [--check]\n' "$0" >&2; exit 2 ;;
esac
# script: FILE opens with "#!" (binary files read without a warning).
script() {
    [ "$(head -c 2 "$1" | tr -d '\0')" = '#!' ]
}

missing=0
while IFS= read -r f; do
    [ -f "$f" ] || continue
    case "$f" in
        *.c|*.h) kind=c ;;
        *.proto) kind=proto ;;
        Makefile) kind=make ;;
        *.sh) kind=sh ;;
        *) if script "$f"; then kind=sh; else continue; fi ;;
    esac
    head -n 5 "$f" | grep -q 'SPDX-License-Identifier' && continue
    if [ "$check" -eq 1 ]; then
        printf '%s\n' "$f"
        missing=$((missing + 1))
        continue
    fi
    case "$kind" in
        c)     sed -i "1i /* $tag */" "$f" ;;
        proto) sed -i "1i // $tag" "$f" ;;
        make)  sed -i "1i # $tag" "$f" ;;
        sh)
            if script "$f"; then
                sed -i "1a # $tag" "$f"
            else
                sed -i "1i # $tag" "$f"
            fi
            perl -pi -e 's/sed -n \x27(\d+),(\d+)p\x27/"sed -n \x27" . ($1 + 1) . "," . ($2 + 1) . "p\x27"/ge' "$f"
            ;;
    esac
done < <(git ls-files)
if [ "$check" -eq 1 ] && [ "$missing" -gt 0 ]; then
    printf 'spdx: %d file(s) above lack "%s" (tests/tools/spdx.sh adds it)\n' "$missing" "$tag" >&2
    exit 1
fi
exit 0
