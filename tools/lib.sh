# Shared set-up for tools/registry and tools/run-tests: check the toolchain and install the
# Debian packages the project needs when they are missing. Sourced, not run.

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

need_cargo() {
    command -v cargo >/dev/null 2>&1 \
        || die "cargo not found: install Rust (rustup.rs, or Debian's cargo) and run this again"
}

# need_debs PKG...: installs the listed Debian packages that are not installed yet.
need_debs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "could not install ${missing[*]}"
}
