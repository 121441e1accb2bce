# service-restart UNIT
#
# A packaged service restarted with its checked configuration, and enabled: Redis, whose only
# check is its start (systemd waits for it: Type=notify).
set -eu
case $1 in ''|*[!A-Za-z0-9:_.@-]*) printf 'refused unit: %s\n' "$1" >&2; exit 2 ;; esac
systemctl enable --quiet -- "$1"
systemctl restart -- "$1"
