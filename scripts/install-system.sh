#!/usr/bin/env bash
# Install the Debian packages the suite needs, only those that are missing.
#
#   scripts/install-system.sh          Tesseract with eng, pol, rus, DejaVu fonts, and
#                                      python3-venv when python3 lacks it (`make run`)
#   scripts/install-system.sh --test   also Dovecot (IMAP, LMTP), PostgreSQL and openssl,
#                                      the real servers scripts/servers.sh starts for tests,
#                                      and Chromium, the browser the web app's tests drive
#   scripts/install-system.sh --bench  also poppler-utils (pdftotext, the reader of the
#                                      invoice2data baseline in bench/textpdf.py)
#
# A no-op (one dpkg-query call) when everything is present. Installing needs root; run as
# another user with something missing, it prints the exact command to run and exits 1.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-pol tesseract-ocr-rus fonts-dejavu-core)
# Debian's python3 ships without venv/ensurepip; a python3 that has them needs nothing.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi
for arg in "$@"; do
    case "$arg" in
        --test) packages+=(dovecot-imapd dovecot-lmtpd postgresql openssl chromium chromium-driver) ;;
        --bench) packages+=(poppler-utils) ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install-system.sh: unknown argument: $arg" >&2
            usage >&2
            exit 2
            ;;
    esac
done

# One line "<package> <status>" per package dpkg knows; unknown packages print nothing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
    if ! grep -qx "$package installed" <<<"$installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-system.sh: all present: ${packages[*]}"
    exit 0
fi

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if ((EUID != 0)); then
    echo "install-system.sh: missing packages: ${missing[*]}" >&2
    echo "install-system.sh: run as root:" >&2
    echo "  sudo apt-get update && sudo $install_cmd" >&2
    exit 1
fi

echo "install-system.sh: installing: ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-system.sh: done"
