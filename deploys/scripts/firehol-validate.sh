# firehol-validate CONF
#
# `firehol CONF debug` compiles the rules without loading them and exits 1 either way; it says
# "Processing file ... OK" only when every directive was understood. Prints firehol's own
# complaint (not the compiled rules) when it was not.
set -u
out=$(firehol "$1" debug 2>&1)
printf '%s\n' "$out" | grep -q "^FireHOL: Processing file .* OK" && exit 0
printf '%s\n' "$out" | grep -v '^\(-A\|:\|\*\|#\|COMMIT\)' >&2
exit 1
