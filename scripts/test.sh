#!/usr/bin/env bash
# wireprobe's test command (`npm test`). For Debian 12, run as root (the lab tests build network namespaces).
#
#   1. refuses to run without root (exit 3)
#   2. installs missing Debian packages the tests use (exit 3 naming them when that fails)
#   3. runs `npm install` when node_modules, the addon or dist/ is missing or older than package.json;
#      rebuilds the addon when a native source is newer than it (or npm install took a prebuild instead), and
#      always compiles dist/ afresh (the CLI tests run bin/wireprobe.js, which loads dist/)
#   4. biome check, type check of src + tests (tsconfig.test.json); src itself is type-checked by the build
#   5. sweeps stale labs of dead processes, then runs tap over test/**/*.test.ts (see .taprc)
#   6. fails when this run left a lab namespace behind (and deletes it)
#   7. exits non-zero when anything failed; the last line is `tests: N passed, N failed`, counting tap's
#      assertions (from its `# { total: N, pass: N, fail: N }` line) plus this script's own checks (npm install
#      when it runs, addon rebuild when it runs, build, biome, tsc tests, no leftover namespaces; and the tap run itself when it breaks
#      down without reporting failed assertions)
#
# It never changes the host namespace: the only namespaces it deletes are lab namespaces
# (wp<name>-<4 hex>-<host>) whose creating process is gone or belonged to this run.

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 3
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LAB_NS_RE='^wp[a-z0-9]*-[0-9a-f]{4}-'
OWNER_DIR=/run/wireprobe-labs

say() { printf '\n== %s\n' "$*"; }

# --- 1. root --------------------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the lab tests need root (they create network namespaces, veths and bridges); run as root" >&2
  exit 3
fi

# --- 2. Debian packages -----------------------------------------------------------------------------------
# package:command. A package counts as present when dpkg has it installed or its command is on PATH;
# arping must be the `arping` package itself (Thomas Habets' arping, the oracle parses its output), not
# iputils-arping, which installs a different arping command. The arm64 prebuild is cross-compiled (npm pack's
# prepack, test/consumer.test.ts) and loaded by an arm64 Node under qemu-user with the cross toolchain's libc
# (test/arm64.test.ts). The container image is built with mmdebstrap and podman (runc: crun 1.8 refuses a hybrid
# cgroup layout) and gets its file capability with setcap (test/image.test.ts).
REQUIRED=(
  iproute2:ip nftables:nft dnsmasq-base:dnsmasq nmap:nmap tcpdump:tcpdump arping: arp-scan:arp-scan
  dnsutils:dig zmap:zmap iputils-ping:ping procps:sysctl util-linux:setsid ndisc6:ndisc6
  iputils-tracepath:tracepath prometheus:promtool curl:curl mmdebstrap:mmdebstrap podman:podman runc:runc
  libcap2-bin:setcap make:make g++:g++ python3:python3 g++-aarch64-linux-gnu:aarch64-linux-gnu-g++ qemu-user:qemu-aarch64
)

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing_packages() {
  local entry pkg cmd
  for entry in "${REQUIRED[@]}"; do
    pkg=${entry%%:*}
    cmd=${entry#*:}
    if pkg_installed "$pkg"; then continue; fi
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
    printf '%s\n' "$pkg"
  done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing missing Debian packages: ${missing[*]}"
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "scripts/test.sh: missing Debian packages: ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
    exit 3
  fi
fi

# --- bookkeeping ------------------------------------------------------------------------------------------
checks_passed=0
checks_failed=0
failed_checks=()
tap_pass=0
tap_fail=0

check() { # name command... : runs a check, records its outcome
  local name=$1
  shift
  say "$name: $*"
  if "$@"; then
    checks_passed=$((checks_passed + 1))
  else
    checks_failed=$((checks_failed + 1))
    failed_checks+=("$name")
    echo "FAILED: $name" >&2
  fi
}

finish() {
  say "summary"
  echo "tap: ${tap_pass} passed, ${tap_fail} failed"
  echo "checks: ${checks_passed} passed, ${checks_failed} failed${failed_checks[*]:+ (failed: ${failed_checks[*]})}"
  echo "tests: $((tap_pass + checks_passed)) passed, $((tap_fail + checks_failed)) failed"
  if [ "$((tap_fail + checks_failed))" -gt 0 ]; then exit 1; fi
  exit 0
}

# --- 3. npm install ---------------------------------------------------------------------------------------
needs_install() {
  local f
  for f in node_modules/.package-lock.json build/Release/wireprobe.node dist/index.js; do
    if [ ! -e "$f" ] || [ package.json -nt "$f" ]; then
      echo "npm install needed: $f is missing or older than package.json"
      return 0
    fi
  done
  return 1
}
if needs_install; then
  check "npm install" npm install --no-audit --no-fund
fi
addon_stale() {
  [ -n "$(find native binding.gyp -newer build/Release/wireprobe.node -print -quit 2>/dev/null)" ]
}
# The tests load the addon built from this checkout's sources: npm install's node-gyp-build builds it unless a
# prebuild fits (prebuilds/, left by `npm run prebuilds` or `npm pack`), which may be older than native/.
if [ ! -e build/Release/wireprobe.node ] || addon_stale; then
  check "addon rebuild" npx node-gyp rebuild
fi
check "build" npx tsc -p tsconfig.json
if [ ! -x node_modules/.bin/tap ]; then
  echo "scripts/test.sh: node_modules/.bin/tap is missing; cannot run the tests" >&2
  checks_failed=$((checks_failed + 1))
  failed_checks+=("node_modules")
  finish
fi

# --- 4. lint, format, types -------------------------------------------------------------------------------
check "biome" npx biome check .
check "tsc tests" npx tsc -p tsconfig.test.json --noEmit

# --- lab namespaces ---------------------------------------------------------------------------------------
lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$LAB_NS_RE" || true; }

lab_prefix() { [[ $1 =~ ^(wp[a-z0-9]*-[0-9a-f]{4})- ]] && printf '%s\n' "${BASH_REMATCH[1]}"; }

owner_field() { # prefix key
  sed -n "s/^$2=//p" "$OWNER_DIR/$1" 2>/dev/null | head -n 1
}

owner_alive() { # prefix: the creating process (same pid, same start time) still runs
  local pid start now
  pid=$(owner_field "$1" pid)
  start=$(owner_field "$1" start)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  now=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $20}') || return 1
  [ -n "$now" ] || return 1
  [ -z "$start" ] || [ "$now" = "$start" ]
}

delete_lab_namespace() { # ns (lab namespaces only): end its processes, then ip netns del
  local ns=$1 pids
  [[ $ns =~ $LAB_NS_RE ]] || return 1
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    sleep 0.5
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
  fi
  ip netns del "$ns"
}

release_dead_owner_files() {
  local f prefix
  for f in "$OWNER_DIR"/wp*; do
    [ -e "$f" ] || continue
    prefix=${f##*/}
    if ! owner_alive "$prefix" && ! lab_namespaces | grep -q "^$prefix-"; then rm -f "$f"; fi
  done
}

sweep_stale_labs() { # before the run: labs of dead processes (from killed earlier runs)
  local ns prefix
  for ns in $(lab_namespaces); do
    prefix=$(lab_prefix "$ns") || continue
    if owner_alive "$prefix"; then continue; fi
    echo "removing stale lab namespace $ns (its creator is gone)"
    delete_lab_namespace "$ns" || echo "could not delete stale namespace $ns" >&2
  done
  release_dead_owner_files
}

check_no_leftover_labs() { # after the run: nothing of this run (or of dead processes) may be left
  local ns prefix left=0
  for ns in $(lab_namespaces); do
    prefix=$(lab_prefix "$ns") || continue
    if [ "$(owner_field "$prefix" run)" != "$RUN_ID" ] && owner_alive "$prefix"; then
      echo "ignoring $ns: a live lab of another process ($(owner_field "$prefix" pid))"
      continue
    fi
    echo "LEFT BEHIND: lab namespace $ns (lab $(owner_field "$prefix" name), pid $(owner_field "$prefix" pid)); deleting it" >&2
    left=$((left + 1))
    delete_lab_namespace "$ns" || echo "could not delete $ns" >&2
  done
  release_dead_owner_files
  [ "$left" -eq 0 ]
}

# --- 5. tap -----------------------------------------------------------------------------------------------
RUN_ID="test-$$-$(date +%s%N)"
export WIREPROBE_LAB_RUN_ID=$RUN_ID

# Tools and tests write to /dev/null; if it is not the null device, every such write lands in a file and the
# output-file tests see a regular file where a device should be: say so instead of failing obscurely.
null_device_ok() { [ -c /dev/null ] && [ "$(stat -c %t:%T /dev/null)" = "1:3" ]; }
if ! null_device_ok; then
  echo "scripts/test.sh: /dev/null is not the null character device (1,3) on this machine; restore it (mknod -m 666 /dev/null c 1 3)" >&2
  exit 3
fi

say "sweeping stale labs"
sweep_stale_labs

say "tap"
tap_log=$(mktemp)
npx tap 2>&1 | tee "$tap_log"
tap_status=${PIPESTATUS[0]}
tap_summary=$(grep -E '^# \{ total: ' "$tap_log" | tail -n 1)
rm -f "$tap_log"
[[ $tap_summary =~ pass:\ ([0-9]+) ]] && tap_pass=${BASH_REMATCH[1]}
[[ $tap_summary =~ fail:\ ([0-9]+) ]] && tap_fail=${BASH_REMATCH[1]}
if [ -z "$tap_summary" ] || { [ "$tap_status" -ne 0 ] && [ "$tap_fail" -eq 0 ]; }; then
  # tap itself failed (no summary, or a failing exit without failed assertions): count that as a failure
  echo "FAILED: tap run (exit $tap_status${tap_summary:+, $tap_summary})" >&2
  checks_failed=$((checks_failed + 1))
  failed_checks+=("tap-run")
fi

# --- 6. leftovers -----------------------------------------------------------------------------------------
check "no lab namespace left" check_no_leftover_labs
# A test that replaced /dev/null would break the machine for everything after it: it must stay the device.
check "/dev/null is still the null device" null_device_ok

# --- 7. result --------------------------------------------------------------------------------------------
finish
