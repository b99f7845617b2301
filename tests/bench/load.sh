#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# load.sh: the bench's bounded load, one request at a time (busybox sh and
# busybox wget, so the same client runs on the machine against ferry's hosts
# and inside a container against a Swarm service).
#
#   load.sh STOPFILE LIMIT_S PAUSE_S TARGET...     TARGET is host:port
#
# Sends GET /version to the targets in turn, PAUSE_S apart, until STOPFILE
# exists or LIMIT_S seconds have passed, then prints one line:
#   sent N ok N failed N non2xx N
# "failed" is a request that got no HTTP answer (refused, reset, 3 s timeout);
# "non2xx" one that got an HTTP status outside 2xx.
BB=/bin/busybox
stop="$1" limit="$2" pause="$3"
shift 3
sent=0 ok=0 failed=0 non2xx=0
start=$($BB date +%s)
while [ ! -e "$stop" ]; do
	now=$($BB date +%s)
	[ $((now - start)) -lt "$limit" ] || break
	for t in "$@"; do
		sent=$((sent + 1))
		# (busybox 1.35's own wget -T crashes: time it out from outside.)
		if err=$($BB timeout 3 $BB wget -q -O /dev/null "http://$t/version" 2>&1); then
			ok=$((ok + 1))
		else
			case "$err" in
			*"server returned error"*) non2xx=$((non2xx + 1)) ;;
			*) failed=$((failed + 1)) ;;
			esac
		fi
		$BB sleep "$pause"
		[ ! -e "$stop" ] || break
	done
done
echo "sent $sent ok $ok failed $failed non2xx $non2xx"
