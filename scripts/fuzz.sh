#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx(f *testing.F)) of the
# module for FUZZTIME each, one package and target at a time: go test can
# fuzz only one target per run. Targets are listed by go test -list, so a
# new one anywhere is picked up without changing this script.
#
#   FUZZTIME=30s   how long each target runs (a duration, or Nx for N runs)
#   PKGS=./...     which packages to search
#   GO=go          the go command
#
# Seed corpora (f.Add and testdata/fuzz/FuzzXxx/) also run in plain go test.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
PKGS=${PKGS:-./...}

# go test -list prints a package's matching names, then "ok <pkg> ...". A
# package whose tests do not build is reported, and the others still run.
failed=()
if ! listing=$("$GO" test -run '^$' -list '^Fuzz' $PKGS); then
	failed+=("(listing: some test packages do not build)")
fi
targets=$(awk '
	/^Fuzz/ { names[++n] = $1; next }
	/^ok[ \t]/ { for (i = 1; i <= n; i++) print $2, names[i]; n = 0 }
' <<<"$listing")

while read -r pkg name; do
	[ -n "$pkg" ] || continue
	echo "== fuzz $pkg $name for $FUZZTIME"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$pkg $name")
	fi
done <<<"$targets"

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed:"
	printf '  %s\n' "${failed[@]}"
	echo "fuzz: failing inputs are in each package's testdata/fuzz/<target>/"
	exit 1
fi
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets in $PKGS"
else
	echo "fuzz: all targets passed"
fi
