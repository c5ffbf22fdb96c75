# LibContainerd for Swift — build, test and run.
#   make deps    install the Debian packages the build and tests need (as root; lists them otherwise)
#   make build   debug build of every target
#   make test    unit tests, and the integration tests when run as root
#   make demo    run one container with `lcd run` and show its events (as root)
#   make bench   latency and memory figures against runc and crun (as root)
#   make test-vm the VM tier: cgroup controllers, OOM and CRIU under Debian's kernel in QEMU (as root)

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
DEB_PACKAGES := pkg-config libseccomp-dev libcap-dev busybox-static runc crun gcc libc6-dev util-linux
SWIFT_TEST_FLAGS ?=

.PHONY: deps build test test-vm demo bench clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }; \
	else echo "deps: missing$$missing — run 'sudo make deps'"; exit 1; fi

build: deps
	$(SWIFT) build

# XCTest only: the package has no Swift Testing tests, and an empty Swift Testing run would
# print a closing "0 tests" line after XCTest's real one.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing $(SWIFT_TEST_FLAGS)

# Tests/VM/test-vm.sh installs QEMU and CRIU, fetches Debian's kernel, boots it and runs the
# VM tier's test classes inside. VM_TESTS=Module.Class[/test] runs others (comma-separated).
test-vm: deps
	SWIFT=$(SWIFT) bash Tests/VM/test-vm.sh $(VM_TESTS)

demo: build
	@if [ "$$(id -u)" != 0 ]; then echo "make demo runs a container and needs root"; exit 1; fi
	.build/debug/lcd run --events -- sh -c 'echo "hello from $$(hostname)"; ps; id; exit 3' </dev/null || echo "container exit status: $$?"

# Release builds; a private mount namespace with cgroup2 at /sys/fs/cgroup, so that runc and
# crun (which need a unified hierarchy) run beside LinuxClient on hybrid hosts too.
bench: deps
	@if [ "$$(id -u)" != 0 ]; then echo "make bench runs containers and needs root"; exit 1; fi
	$(SWIFT) build -c release --product lcd-shim
	$(SWIFT) build -c release --product lcd-bench
	unshare -m --propagation private sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec .build/release/lcd-bench'

clean:
	rm -rf .build
