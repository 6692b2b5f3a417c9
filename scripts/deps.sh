#!/bin/sh
# Install the Debian packages imagen needs to build and test, only those missing.
# Run as root (or with sudo available).  Idempotent and quick when all are present.
set -eu
PKGS="gcc make pkg-config libc6-dev libyaml-dev libjansson-dev libspng-dev zlib1g-dev libdeflate-dev libcurl4-openssl-dev
libcmocka-dev pngcheck jq python3 valgrind libchafa-dev libglib2.0-dev tmux zsh fish
postgresql python3-psycopg2 clang libclang-rt-dev libsqlite3-dev libexif-dev python3-pil"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
