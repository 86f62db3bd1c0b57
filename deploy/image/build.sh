#!/usr/bin/env bash
# Builds the wireprobe container image on this machine, without a registry: a Debian root filesystem made by
# mmdebstrap from Debian packages, wireprobe's `npm pack` tarball installed into /opt/wireprobe, imported into
# podman's local storage with `podman import`. Run as root (mmdebstrap's root mode, podman's storage).
#
#   deploy/image/build.sh [--tag IMAGE] [--tarball wireprobe-X.Y.Z.tgz] [--mirror URL] [--out FILE.tar]
#
#   --tag      the image name (default localhost/wireprobe:VERSION)
#   --tarball  install this package tarball (default: `npm pack` of this checkout, which builds the prebuilds)
#   --mirror   the Debian mirror (default: mmdebstrap's, deb.debian.org)
#   --out      also keep the root filesystem tarball here (load it elsewhere with `podman import` / `ctr import`)
#
# Why Debian 13 (trixie) and its own nodejs package: wireprobe needs Node >= 20; Debian 12's nodejs is 18,
# Debian 13's is 20. Everything in the image then comes from signed Debian packages that dpkg inside the image
# knows (a scanner sees their versions, a rebuild picks up security updates), not a binary copied from the
# build machine. The prebuilt addon (N-API 8, built against Debian 12's glibc 2.36) loads on 13's glibc 2.41.
#
# Why /usr/bin/node carries the file capability cap_net_raw+p: Kubernetes (containerd, CRI-O) gives the
# capabilities a non-root container adds (securityContext.capabilities.add) to its bounding, permitted and
# effective sets but not to the ambient set, so they are lost at the execve of the entrypoint (kubernetes
# issue 56374). A file capability on the binary the runtime executes brings NET_RAW back into the permitted set;
# with allowPrivilegeEscalation: false (no_new_privs) the kernel grants it only because the container's
# permitted set already holds NET_RAW: a pod without NET_RAW still gets none. Permitted only, no effective bit:
# wireprobe's addon makes it effective when it loads; with the effective bit the kernel would refuse to execute
# node at all in a container without NET_RAW, where now the agent starts and reports on /healthz that it cannot
# probe. The entrypoint executes node itself, not bin/wireprobe.js through `#!/usr/bin/env node` (env's execve
# would drop the capability first).
#
# Variant "essential": Essential packages and nodejs's dependencies only; no apt, no docs, no man pages.

set -euo pipefail
export LC_ALL=C.UTF-8
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() { printf 'build.sh: %s\n' "$*" >&2; exit "${2:-3}"; }

VERSION=$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")
TAG="localhost/wireprobe:$VERSION"
TARBALL=""
MIRROR=""
OUT=""
SUITE=trixie
# The image's user: a dedicated uid/gid (the manifests' runAsUser), not one shared with other images' nobody.
APP_UID=65532

while [ $# -gt 0 ]; do
  case $1 in
    --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
    --tarball) TARBALL=${2:?--tarball needs a value}; shift 2 ;;
    --mirror) MIRROR=${2:?--mirror needs a value}; shift 2 ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap's root mode and podman's storage need it)"
for tool in mmdebstrap podman setcap getcap npm tar; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install mmdebstrap podman libcap2-bin npm)"
done

WORK=$(mktemp -d /var/tmp/wireprobe-image.XXXXXX)
# mmdebstrap may leave /proc, /sys and /dev/pts mounted in the root filesystem when a hook fails: unmount what
# is under $WORK first, and never let rm cross into another file system.
cleanup() {
  { findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r m; do umount -l "$m"; done; } || true
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

if [ -z "$TARBALL" ]; then
  echo "== npm pack (builds the prebuilt addons)"
  (cd "$ROOT" && npm pack --pack-destination "$WORK" >/dev/null)
  TARBALL=$(ls "$WORK"/wireprobe-*.tgz)
fi
[ -f "$TARBALL" ] || die "no such tarball: $TARBALL" 2
TARBALL=$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")

# The package and its production dependencies, installed here with this machine's npm (no npm in the image).
# --ignore-scripts: the install script would compile the addon when no prebuild fits; the image must use the
# tarball's linux-x64 prebuild, and the check below fails the build when it does not load.
echo "== npm install $TARBALL into /opt/wireprobe"
mkdir -p "$WORK/opt/wireprobe"
printf '{ "name": "wireprobe-image", "private": true }\n' >"$WORK/opt/wireprobe/package.json"
(cd "$WORK/opt/wireprobe" &&
  npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier "$TARBALL" >/dev/null)
[ -d "$WORK/opt/wireprobe/node_modules/wireprobe/prebuilds/linux-x64" ] ||
  die "$TARBALL has no prebuilds/linux-x64 (pack it with npm pack, whose prepack builds them)"

echo "== mmdebstrap $SUITE (variant essential, nodejs)"
# The checks below run the image's node with an empty environment: a caller's NODE_OPTIONS (test runners put
# loaders there) names files that do not exist inside the root filesystem.
ENTRY=/opt/wireprobe/node_modules/wireprobe/bin/wireprobe.js
mmdebstrap --mode=root --variant=essential --include=nodejs \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook="cp -a '$WORK/opt/wireprobe' \"\$1/opt/\"" \
  --customize-hook="chown -R 0:0 \"\$1/opt/wireprobe\"" \
  --customize-hook="echo 'wireprobe:x:$APP_UID:$APP_UID:wireprobe agent:/nonexistent:/usr/sbin/nologin' >>\"\$1/etc/passwd\"" \
  --customize-hook="echo 'wireprobe:x:$APP_UID:' >>\"\$1/etc/group\"" \
  --customize-hook="echo 'wireprobe:!:1::::::' >>\"\$1/etc/shadow\"" \
  --customize-hook="setcap cap_net_raw+p \"\$1/usr/bin/node\"" \
  --customize-hook="chroot \"\$1\" /usr/bin/env -i /usr/bin/node $ENTRY --version" \
  --customize-hook="chroot \"\$1\" /usr/bin/env -i /usr/bin/node -e 'console.log(\"addon:\", require(\"/opt/wireprobe/node_modules/wireprobe/dist/native/binding\").addonPath)'" \
  --customize-hook="rm -rf \"\$1/var/cache/apt\" \"\$1/var/lib/apt/lists\" \"\$1/var/log\"/*" \
  "$SUITE" "$WORK/rootfs" ${MIRROR:+"$MIRROR"} >"$WORK/mmdebstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed (log above)"; }

getcap "$WORK/rootfs/usr/bin/node" | grep -q cap_net_raw || die "setcap on /usr/bin/node did not stick"

echo "== podman import $TAG"
# --xattrs: the file capability is the security.capability extended attribute; without it NET_RAW is lost.
tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
podman import \
  --change "ENTRYPOINT [\"/usr/bin/node\", \"$ENTRY\"]" \
  --change 'CMD ["agent", "--help"]' \
  --change "USER $APP_UID:$APP_UID" \
  --change 'WORKDIR /' \
  --change 'ENV NODE_ENV=production' \
  --change 'EXPOSE 9474/tcp' \
  --change "LABEL org.opencontainers.image.title=wireprobe org.opencontainers.image.version=$VERSION" \
  --message "wireprobe $VERSION on Debian $SUITE (mmdebstrap)" \
  "$WORK/rootfs.tar" "$TAG" >/dev/null
if [ -n "$OUT" ]; then cp "$WORK/rootfs.tar" "$OUT"; fi

echo "built $TAG ($(podman image inspect --format '{{.Size}}' "$TAG") bytes)"
