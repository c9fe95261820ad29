#!/usr/bin/env bash
# The dependency rules of ARCHITECTURE.md, checked on every #include of the source tree:
#   dm/ (the core)      includes only dm/ — it never names a device, firmware or a transport;
#   dm/daemon/          is the composition root: it may include anything;
#   devices/, firmware/ include dm/ and their own tree, never a transport (ioreq/);
#   ioreq/              includes dm/ and ioreq/, never a device;
#   passthrough/        includes only dm/ and passthrough/;
# and hypervisor headers stay in their transport: <xen...> only under ioreq/xen/, <linux/kvm.h>
# only under ioreq/kvm/; libpci's <pci/...> only in hvmd-pci (passthrough/cli/); libslirp's
# <libslirp.h> (Debian's libslirp-dev) only in the user-mode network backend (dm/backends/net_slirp.cc).
# Usage: check_dependencies.sh SOURCE_DIR   (exit 1 and one line per violation)
#        check_dependencies.sh --self-test  (plants a forbidden include and expects it caught)
set -euo pipefail

check() {
  local root=$1
  # One pass over every #include line ("path:line:text"), judged by awk.
  (cd "$root" && grep -rnE '^#include ["<]' dm devices firmware ioreq passthrough \
      --include='*.h' --include='*.cc' 2>/dev/null || true) | sort | awk -F: '
    {
      file = $1; line = $2; text = $0; sub(/^[^:]*:[^:]*:/, "", text)
      split(file, parts, "/"); tree = parts[1]
      if (file ~ /^dm\/daemon\//) next
      allowed = tree == "dm" ? "dm" : "dm|" tree
      if (match(text, /^#include "[^"]*"/)) {
        target = substr(text, 11, RLENGTH - 11)
        if (index(target, "/") == 0) next
        top = substr(target, 1, index(target, "/") - 1)
        if (top !~ ("^(" allowed ")$")) {
          gsub(/\|/, ", ", allowed)
          printf "%s:%s: includes \"%s\": %s/ may include only %s\n", file, line, target, tree, allowed
          failed = 1
        }
      } else if ((text ~ /^#include <xen/ && file !~ /^ioreq\/xen\//) ||
                 (text ~ /^#include <linux\/kvm\.h>/ && file !~ /^ioreq\/kvm\//)) {
        printf "%s:%s: %s: hypervisor headers belong to their transport\n", file, line, text
        failed = 1
      } else if (text ~ /^#include <pci\// && file !~ /^passthrough\/cli\//) {
        printf "%s:%s: %s: libpci belongs to hvmd-pci (passthrough/cli/)\n", file, line, text
        failed = 1
      } else if (text ~ /^#include <(slirp\/)?libslirp/ && file != "dm/backends/net_slirp.cc") {
        printf "%s:%s: %s: libslirp belongs to dm/backends/net_slirp.cc\n", file, line, text
        failed = 1
      }
    }
    END { exit failed }'
}

if [[ ${1:-} == --self-test ]]; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree/dm" "$tree/devices/nic" "$tree/ioreq/xen"
  printf '#include "dm/machine.h"\n' >"$tree/devices/nic/ok.cc"
  printf '#include <xenctrl.h>\n' >"$tree/ioreq/xen/ok.cc"
  check "$tree" >/dev/null || { echo "self-test: a clean tree was refused"; exit 1; }
  printf '#include "ioreq/xen/map_cache.h"\n' >"$tree/devices/nic/bad.cc"
  out=$(check "$tree") && { echo "self-test: a device including a transport passed"; exit 1; }
  [[ $out == *'devices/nic/bad.cc:1: includes "ioreq/xen/map_cache.h"'* ]] || {
    echo "self-test: unexpected report: $out"; exit 1; }
  rm "$tree/devices/nic/bad.cc"
  printf '#include "devices/board.h"\n' >"$tree/dm/bad.h"
  check "$tree" >/dev/null && { echo "self-test: the core naming a device passed"; exit 1; }
  rm "$tree/dm/bad.h"
  printf '#include <linux/kvm.h>\n' >"$tree/dm/bad.cc"
  check "$tree" >/dev/null && { echo "self-test: KVM's header in the core passed"; exit 1; }
  rm "$tree/dm/bad.cc"
  printf '#include <pci/pci.h>\n' >"$tree/dm/bad.cc"
  check "$tree" >/dev/null && { echo "self-test: libpci in the core passed"; exit 1; }
  rm "$tree/dm/bad.cc"
  printf '#include <libslirp.h>\n' >"$tree/dm/bad.cc"
  check "$tree" >/dev/null && { echo "self-test: libslirp outside the user netdev passed"; exit 1; }
  echo "self-test passed"
  exit 0
fi

check "${1:?usage: check_dependencies.sh SOURCE_DIR | --self-test}"
