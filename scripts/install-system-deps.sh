#!/usr/bin/env bash
# Debian packages lynxid needs: R with reticulate/testthat/ggplot2 and friends, pandoc for
# the vignette, chromium to test the HTML review report. Installs only what is missing.
set -euo pipefail
PKGS=(r-base-core r-cran-reticulate r-cran-testthat r-cran-ggplot2 r-cran-knitr
      r-cran-rmarkdown r-cran-jsonlite r-cran-tibble pandoc chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"; exit 0
fi
echo "system packages to install: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
