#!/usr/bin/env bash
# Lay out a tiny root filesystem for deckhand-test/busybox: Debian's static
# busybox plus a link per applet. It deliberately has no bash, so tests can
# prove that steps still run where only /bin/sh exists.
# Usage: make-rootfs.sh DIR   (DIR must be empty or absent)
set -euo pipefail
dir=${1:?usage: make-rootfs.sh DIR}

busybox=/bin/busybox
# Debian's busybox-static ships a self-contained /bin/busybox (the plain
# `busybox` package is dynamically linked and would not run in an empty image).
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

mkdir -p "$dir"/{bin,etc,tmp,root,home/user,usr/bin,sbin,usr/sbin}
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list); do
  case $applet in busybox|bash) continue ;; esac  # never provide a bash
  ln -sf busybox "$dir/bin/$applet"
done

# Users so that `user:` can name someone other than root.
cat >"$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$dir/etc/group" <<'GROUP'
root:x:0:
user:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$dir/home/user"
