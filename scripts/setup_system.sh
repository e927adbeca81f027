#!/usr/bin/env bash
# Installs the Debian packages the two README commands need (TeX Live, latexmk, espeak-ng,
# poppler, Python with venv).
# As root it runs apt-get; otherwise it prints the exact command to run and stops.
set -euo pipefail
packages=(texlive-latex-base texlive-latex-recommended texlive-latex-extra
          texlive-fonts-recommended texlive-science lmodern latexmk espeak-ng poppler-utils
          python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sh -c "$cmd"
else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run this as root, then run make again:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
fi
