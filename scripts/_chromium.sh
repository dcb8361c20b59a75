# Sourced by the screenshot scripts: Debian's chromium package, installed when missing.
ensure_chromium() {
  command -v chromium >/dev/null && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
}
