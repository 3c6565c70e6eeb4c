#!/usr/bin/env bash
# Prints the Debian version of this checkout: a tag v1.2.3 gives 1.2.3
# (1.2.3+4+gabc1234 past it), an untagged tree 0.0.0~gitDATE.HASH, which
# sorts below any release and rises with each commit.
set -euo pipefail
v=$(git describe --tags --always 2>/dev/null | sed 's/^v//') || v=""
case "$v" in
  [0-9]*) echo "${v//-/+}" ;;
  *) echo "0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0).${v:-dev}" ;;
esac
