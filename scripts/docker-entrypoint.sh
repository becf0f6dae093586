#!/bin/sh
# Entry point of the production image: `web` (gunicorn), `worker` (RQ), `migrate`
# (flask db upgrade, run once per deployment by the compose `migrate` service), or any command.
set -e
export FLASK_APP=wsgi.py
case "${1:-web}" in
  web)
    exec gunicorn --bind "0.0.0.0:${PORT:-8080}" \
      --workers "${WEB_WORKERS:-4}" --threads "${WEB_THREADS:-8}" \
      --access-logfile - --error-logfile - wsgi:app
    ;;
  worker)
    exec flask worker
    ;;
  migrate)
    exec flask db upgrade
    ;;
  *)
    exec "$@"
    ;;
esac
