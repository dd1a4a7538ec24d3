#!/usr/bin/env bash
# Installs the Prometheus and Alertmanager that the tests and the demo run,
# from Debian's packages, when they are missing.
set -euo pipefail

need=()
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]}" >&2
  echo "install them first, e.g.: sudo apt-get install ${need[*]}" >&2
  echo "(tests and the demo run /usr/bin/prometheus, /usr/bin/promtool and /usr/bin/prometheus-alertmanager)" >&2
  exit 1
fi

echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# The packages ship services; a temporary policy-rc.d keeps them from starting
# and taking the ports the tests and the demo use.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
