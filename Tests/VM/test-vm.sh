#!/bin/bash
# make test-vm: the privileged tests that need what this host may lack — every cgroup v2
# controller, and a kernel Debian's CRIU can checkpoint — run inside a VM booted with Debian's
# own kernel (QEMU; TCG when there is no usable KVM). Installs what it needs, caches the kernel
# and base initramfs in .build/vmtier, and reports like `make test`: XCTest's output, its status.
#
#   Tests/VM/test-vm.sh [XCTEST_FILTER]   default: every class of LinuxRuntimeTests
#   e.g. Tests/VM/test-vm.sh LinuxRuntimeTests.ControllerTests/testOverPidsMaxForkFails
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
FILTER=${1:-}
export VMTIER_DIR=$ROOT/.build/vmtier/base

# 1. What the tier needs on the host: QEMU, CRIU (its binary goes into the VM), xz, busybox.
missing=""
for p in qemu-system-x86 criu xz-utils busybox-static util-linux iproute2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { echo "test-vm: missing$missing — run as root or install them" >&2; exit 1; }
    echo "test-vm: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; }
fi

# 2. Debian's kernel and the base initramfs, rebuilt when the kernel package changes.
want=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ ! -f "$VMTIER_DIR/base.cpio" ] || [ "$(cat "$VMTIER_DIR/kernel.package" 2>/dev/null)" != "$want" ]; then
    bash Tests/VM/prepare.sh
fi

# 3. The tests, the helper, lcd and the restore drill's daemon, built on the host and copied in (with their libraries).
"$SWIFT" build --build-tests
WORK=$ROOT/.build/vmtier/work
rm -rf "$WORK" && mkdir -p "$WORK"
# By default the whole integration suite runs again on a pure cgroup v2 host, as users' are;
# the controller and checkpoint tests, which skip elsewhere, must run here.
if [ -z "$FILTER" ]; then
    # (HelperBinaryTests inspects the build on the host, not the kernel: not in the VM.)
    FILTER=$(.build/debug/LibContainerdPackageTests.xctest --list-tests | grep -o '^LinuxRuntimeTests\.[A-Za-z]*' | sort -u |
        grep -vx 'LinuxRuntimeTests.HelperBinaryTests' | paste -sd, -)
fi
cp .build/debug/LibContainerdPackageTests.xctest .build/debug/lcd-shim .build/debug/lcd .build/debug/lcd-restore-drill .build/debug/lcd-spec-probe "$WORK/"
# The static programs the tests put into container root file systems (the VM has no gcc).
mkdir -p "$WORK/programs"
for source in Tests/LinuxRuntimeTests/Programs/*.c; do
    gcc -static -O1 -o "$WORK/programs/$(basename "$source" .c)" "$source"
done

# 4. Boot, run, report. LCD_VM_TIER=1: a missing controller or a failing `criu check` fails
# the tests instead of skipping them.
echo "test-vm: booting $(cat "$VMTIER_DIR/kernel.version") with QEMU to run $FILTER"
VMTIER_MEM=${VMTIER_MEM:-2G} bash Tests/VM/run-in-vm.sh "$WORK" \
    "uname -r; LCD_VM_TIER=1 LCD_TEST_PROGRAMS=/work/programs ./LibContainerdPackageTests.xctest '$FILTER'"
