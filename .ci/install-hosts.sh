#!/usr/bin/env bash
# Install the host applications the end-to-end tests drive, when missing (Debian, as root).
set -euo pipefail
want=(krita python3-pyqt5 python3-sip xvfb xauth blender jackd2 ardour fluidsynth fluid-soundfont-gm)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "host applications present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing host packages (${missing[*]}); run as root or install them: apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
