#!/bin/sh
# The compose stack's one-shot demo: one handshake per virtual host, each told as a story.
# Hosts come from TLSSIM_DEMO_HOSTS (space-separated). Exits non-zero only when the
# handshake with valid.tlssim.test fails: the other hosts are meant to fail, each its own way.
set -u
hosts=${TLSSIM_DEMO_HOSTS:-valid.tlssim.test}
status=0
for host in $hosts; do
    printf '\n==================== %s ====================\n' "$host"
    if tlssim handshake --server-name "$host"; then
        result=ok
    else
        result=failed
        [ "$host" = valid.tlssim.test ] && status=1
    fi
    printf -- '---- %s: handshake %s\n' "$host" "$result"
done
exit $status
