#!/usr/bin/env bash
# Runs random command lines of every ringtrain command over small good and bad files
# (tests/integration/command_line_fuzz.py): scripts/fuzz-command-line.sh [ROUNDS] [SEED] (default
# 1000 rounds, a seed from the clock). Prints every command line that ended in a stack trace,
# another exit status than 0 or 2, or a hang, and exits 1 if there was one. Uses build/ringtrain.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

rounds=${1:-1000}
seed=${2:-$(date +%s)}
[ -x "$RINGTRAIN_ROOT/build/ringtrain" ] || die "build/ringtrain is missing: run scripts/build.sh first"
log "fuzzing the command line: $rounds rounds, seed $seed"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$RINGTRAIN_ROOT/tests/integration"
RINGTRAIN_BIN="$RINGTRAIN_ROOT/build/ringtrain" python3 - "$work" "$seed" "$rounds" <<'PY'
import sys
from command_line_fuzz import fuzz
problems = fuzz(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
print(f"{len(problems)} command line(s) ended badly in {sys.argv[3]} rounds (seed {sys.argv[2]})")
sys.exit(1 if problems else 0)
PY
