#!/usr/bin/env bash
# Screenshots of the documentation site as a reader sees it: builds site/ (scripts/docs.sh),
# serves it on 127.0.0.1 and has headless Chromium (Debian's chromium package, installed here
# when missing, as scripts/mlflow-screenshot.sh does) take the home page and one guide page.
#   scripts/docs-screenshot.sh [PAGE]     (default guide/data/: docs/site_home.png, site_guide.png)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZOO_TUNE_VENV:-$root/.venv}"
page="${1:-guide/data/}"
# shellcheck source=scripts/_chromium.sh
. "$root/scripts/_chromium.sh"
ensure_chromium
"$root/scripts/docs.sh" build
port=$("$venv/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$venv/bin/python" -m http.server "$port" --bind 127.0.0.1 --directory "$root/site" \
  >/dev/null 2>&1 &
server=$!
profile="$(mktemp -d -t zoo_tune_chromium_XXXXXX)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$profile"' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/" >/dev/null && break
  sleep 0.2
done
shot() {  # URL OUT HEIGHT
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --window-size="1440,$3" --virtual-time-budget=4000 --screenshot="$2" "$1" >/dev/null 2>&1
  echo "$2"
}
shot "http://127.0.0.1:$port/" "$root/docs/site_home.png" 1100
shot "http://127.0.0.1:$port/$page" "$root/docs/site_guide.png" 1100
