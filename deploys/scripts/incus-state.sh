# incus-state POOL NETWORK... -- CONTAINER... -- FILE...
#
# The incus side of a host in one round trip: the storage pool, each network, every instance,
# and in each running CONTAINER of the model the sha256 of every FILE and whether sshd is
# installed. Sections start with "::NAME::" lines; incus prints each JSON document whole.
set -u
pool=$1
shift
echo "::pool::"
incus query "/1.0/storage-pools/$pool" 2>/dev/null || echo null
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  echo "::network $1::"
  incus query "/1.0/networks/$1" 2>/dev/null || echo null
  shift
done
shift
echo "::instances::"
incus query "/1.0/instances?recursion=1" || echo "[]"
containers=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  containers="$containers $1"
  shift
done
shift
running=$(incus list --format csv -c ns 2>/dev/null | sed -n 's/,RUNNING$//p')
for name in $containers; do
  printf '%s\n' "$running" | grep -qx -- "$name" || continue
  echo "::files $name::"
  incus exec "$name" -- sha256sum -- "$@" 2>/dev/null
  # shellcheck disable=SC2016  # ${Status} is dpkg-query's field, not the shell's
  incus exec "$name" -- dpkg-query -W -f='sshd ${Status}\n' openssh-server 2>/dev/null
done
true
