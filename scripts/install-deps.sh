#!/usr/bin/env bash
# Installs the system libraries Auge builds against (Debian/Ubuntu), only where they are missing.
set -euo pipefail
missing=()
for pkg in libpng-dev libjpeg62-turbo-dev libssl-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Ubuntu names libjpeg-turbo's headers libjpeg-turbo8-dev; libjpeg-dev picks the right one on both.
if [ ${#missing[@]} -gt 0 ]; then
    if ! dpkg -s libjpeg-dev >/dev/null 2>&1 && [[ " ${missing[*]} " == *" libjpeg62-turbo-dev "* ]]; then
        missing=("${missing[@]/libjpeg62-turbo-dev/libjpeg-dev}")
    else
        missing=("${missing[@]/libjpeg62-turbo-dev/}")
    fi
    echo "installing: ${missing[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ${missing[*]} >&2
fi
