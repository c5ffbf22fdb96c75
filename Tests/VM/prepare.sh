#!/bin/bash
# Tests/VM/prepare.sh - fetch Debian's stock kernel and build the base initramfs for run-in-vm.sh.
# Adapted for this project from the shared VM-tier recipe (../shared/vm): adds criu's helpers.
# Needs: apt-get, dpkg, xz, busybox (static, Debian package busybox-static), ldd.
# Result in $VMTIER_DIR (default .build/vmtier/base): vmlinux, base.cpio, kernel.version, kernel.package
set -euo pipefail
OUT=${VMTIER_DIR:-$(pwd)/.build/vmtier/base}
# Kernel package: whatever Debian's linux-image-amd64 meta package points to (override with KPKG=...).
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
# Host binaries copied in with their shared libraries (missing ones are skipped). GNU tar: criu
# uses it for tmpfs contents (busybox tar lacks the options).
BINS=${VMTIER_BINS:-"criu unshare nsenter setpriv dash bash tar ip losetup"}
# Kernel modules made available to modprobe inside the VM (dependencies are added automatically).
MODS=${VMTIER_MODS:-"overlay squashfs loop ext4 fuse veth bridge tun unix_diag tcp_diag udp_diag raw_diag af_packet_diag netlink_diag nf_tables crc32c_generic autofs4"}

mkdir -p "$OUT" && cd "$OUT"
rm -rf kernel root && mkdir -p kernel root

echo "== kernel: $KPKG"
(cd kernel && apt-get download "$KPKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
dpkg -x kernel/"$KPKG"_*.deb kernel/x
KVER=$(ls kernel/x/lib/modules)
# vmlinuz is a bzImage with an xz-compressed payload. Decompressing it once here and booting the ELF
# vmlinux via its PVH entry point saves ~4 s per boot under TCG (the guest no longer runs xz).
OFF=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' kernel/x/boot/vmlinuz-"$KVER" | head -1 | cut -d: -f1)
tail -c +$((OFF + 1)) kernel/x/boot/vmlinuz-"$KVER" | xz -dcq > vmlinux 2>/dev/null || true
[ "$(head -c 4 vmlinux)" = $'\x7fELF' ] || { echo "failed to extract vmlinux" >&2; exit 1; }
echo "$KVER" > kernel.version
echo "$KPKG" > kernel.package

echo "== initramfs root"
R=$OUT/root
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{dev,proc,sys,tmp,run,root,mnt,work,etc,vmtier}
for d in bin sbin lib lib64; do ln -s usr/$d "$R/$d"; done   # Debian's merged-/usr layout
ldd /bin/busybox >/dev/null 2>&1 && { echo "/bin/busybox must be static (busybox-static)" >&2; exit 1; }
cp /bin/busybox "$R/usr/bin/busybox"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >> "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"

# copy_elf FILE...: copy files plus the shared libraries ldd reports, keeping absolute paths.
copy_elf() {
    local f p
    for f in "$@"; do
        for p in "$f" $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
            case $p in /lib/*|/lib64/*|/bin/*|/sbin/*) p2=/usr$p ;; *) p2=$p ;; esac
            mkdir -p "$R$(dirname "$p2")" && cp -L "$p" "$R$p2"
        done
    done
}
for b in $BINS; do
    if p=$(command -v "$b"); then copy_elf "$p"; else echo "warning: $b not found, skipped" >&2; fi
done
# busybox-static prefers its own applets when *it* is the shell, shadowing e.g. util-linux unshare;
# so /bin/sh is dash when available (busybox ash otherwise).
[ -e "$R/usr/bin/dash" ] && ln -s dash "$R/usr/bin/sh"

echo "== modules for $KVER"
MD=kernel/x/lib/modules/$KVER
declare -A seen=()
add_mod() {
    local m=${1//-/_} f dep
    [ -n "${seen[$m]:-}" ] && return; seen[$m]=1
    f=$(find "$MD/kernel" -name "$m.ko" | head -1)
    [ -n "$f" ] || { echo "warning: module $m not found (built-in?)" >&2; return; }
    mkdir -p "$R/lib/modules/$KVER/$(dirname "${f#"$MD"/}")"
    cp "$f" "$R/lib/modules/$KVER/${f#"$MD"/}"
    for dep in $(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$dep"; done
}
for m in $MODS; do add_mod "$m"; done
cp "$MD"/modules.builtin* "$MD"/modules.order "$R/lib/modules/$KVER/"
busybox depmod -b "$R" "$KVER"

cat > "$R/init" <<'EOF'
#!/bin/busybox sh
# vmtier /init: make the initramfs look like a normal host, run /vmtier/cmd, power off.
if [ "$1" != stage2 ]; then
    # The initramfs root ("rootfs") can never be pivot_root'ed away, which breaks container
    # runtimes. Re-enter via a bind mount of / so the root is an ordinary mount.
    /bin/busybox mount --bind / /mnt && cd /mnt && /bin/busybox mount --move . / &&
        exec /bin/busybox chroot . /init stage2
    echo "vmtier: bind-mount trick failed, continuing on rootfs" >&2
fi
/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/work HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mkdir -p /dev/net; mknod /dev/net/tun c 10 200; mknod /dev/fuse c 10 229   # as kmod static-nodes
mknod /dev/loop-control c 10 237                 # (opening them auto-loads tun/fuse/loop)
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
mount --make-rshared /
hostname vmtier
ip link set lo up
stty -F /dev/ttyS1 raw -echo 2>/dev/null    # ttyS1 carries the command output, byte for byte
cd /work
# setsid: processes started by the kernel's init have session id 0, which criu refuses to dump.
setsid /bin/sh /vmtier/cmd </dev/null >/dev/ttyS1 2>&1
echo "
VMTIER_RC=$?"
sync
poweroff -f
EOF
chmod 755 "$R/init"

(cd "$R" && find . | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null) > base.cpio
cp kernel/x/boot/config-* config; rm -rf kernel
echo "== done: $OUT/vmlinux ($KVER), $OUT/base.cpio ($(du -h base.cpio | cut -f1))"
