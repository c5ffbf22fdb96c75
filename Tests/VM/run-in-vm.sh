#!/bin/bash
# Tests/VM/run-in-vm.sh DIR CMD... (adapted from the shared VM-tier recipe, ../shared/vm)
# run-in-vm.sh DIR CMD... - boot Debian's kernel in QEMU with DIR copied to /work, run CMD there
# (a shell command string, as with ssh) as root, print its output, exit with its exit code.
# Shared libraries of dynamically linked ELF files in DIR are copied in automatically (via ldd).
# Env: VMTIER_DIR (prepare.sh output, default .build/vmtier/base), VMTIER_MEM (1G), VMTIER_SMP (2),
#      VMTIER_TIMEOUT (seconds, 600), VMTIER_ACCEL (kvm|tcg, auto), VMTIER_VERBOSE=1 (show console).
# Exit codes: CMD's code; 124 = VM timed out; 125 = VM died before reporting (console log on stderr).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,8s/^# \{0,1\}//p' "$0" >&2; exit 2; }
BASE=${VMTIER_DIR:-$(pwd)/.build/vmtier/base}
SRC=$(realpath "$1"); shift
[ -f "$BASE/base.cpio" ] || { echo "run prepare.sh first ($BASE/base.cpio missing)" >&2; exit 2; }
T=$(mktemp -d /tmp/vmtier-run.XXXXXX)
trap 'rm -rf "$T"' EXIT

# Extra initramfs layer: DIR -> /work, the command -> /vmtier/cmd, plus libraries from ldd.
R=$T/root
mkdir -p "$R/work" "$R/vmtier"
cp -a "$SRC/." "$R/work/"
printf '%s\n' "$*" > "$R/vmtier/cmd"
while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | tr -d '\0')" = $'\x7fELF' ] || continue
    for p in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
        case $p in /lib/*|/lib64/*|/bin/*|/sbin/*) d=/usr$p ;; *) d=$p ;; esac   # merged /usr
        [ -e "$R$d" ] || [ -e "$BASE/root$d" ] || { mkdir -p "$R${d%/*}" && cp -L "$p" "$R$d"; }
    done
done < <(find "$SRC" -type f -perm -u+x -print0)
(cd "$R" && find . | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null) > "$T/extra.cpio"
cat "$BASE/base.cpio" "$T/extra.cpio" > "$T/initrd"   # the kernel unpacks concatenated archives

ACCEL=${VMTIER_ACCEL:-}
if [ -z "$ACCEL" ]; then   # KVM needs real VT-x/AMD-V; PVM-style nested "KVM" cannot boot a stock kernel
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case $ACCEL in kvm) CPU=host ;; *) CPU=max ;; esac

set +e
timeout -k 5 "${VMTIER_TIMEOUT:-600}" qemu-system-x86_64 -accel "$ACCEL" -cpu "$CPU" \
    -m "${VMTIER_MEM:-1G}" -smp "${VMTIER_SMP:-2}" -nodefaults -no-user-config -display none \
    -no-reboot -kernel "$BASE/vmlinux" -initrd "$T/initrd" \
    -append "console=ttyS0 panic=-1 quiet" \
    -serial "file:$T/console.log" -serial stdio </dev/null
QRC=$?
set -e
[ "${VMTIER_VERBOSE:-0}" = 1 ] && cat "$T/console.log" >&2
RC=$(sed -n 's/^VMTIER_RC=\([0-9]*\).*/\1/p' "$T/console.log" | tail -1)
if [ -z "$RC" ]; then
    [ "${VMTIER_VERBOSE:-0}" = 1 ] || tail -n 40 "$T/console.log" >&2
    [ $QRC = 124 ] && { echo "run-in-vm: timed out" >&2; exit 124; }
    echo "run-in-vm: VM exited (qemu rc $QRC) without reporting an exit code" >&2; exit 125
fi
exit "$RC"
