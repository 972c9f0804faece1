# Sourced by the setup scripts: apt_get runs apt-get as root, waiting for
# another package manager instead of failing at once.
# apt waits for another apt or dpkg run (fresh cloud machines run automatic
# updates at boot) up to LOCK_WAIT seconds instead of failing at once.
LOCK_WAIT="${FRAMEWISE_APT_LOCK_WAIT:-600}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_get() {
  local deadline=$((SECONDS + LOCK_WAIT)) out
  while :; do
    # DPkg::Lock::Timeout covers the dpkg lock; the lists lock of
    # "apt-get update" is retried here.
    if out=$($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not get lock|unable to lock|is another process using it' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\n' "$out" >&2
      return 1
    fi
    echo "setup: waiting for another package manager to finish ($((deadline - SECONDS)) s left)" >&2
    sleep 5
  done
}
