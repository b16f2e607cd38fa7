#!/usr/bin/env bash
# The curl walk-through of the 2015 containerd README, run against containerd-trio.
#
#   ADDRESS=127.0.0.1:8888 BUNDLE=/containers/redis examples/seed-walkthrough.sh
#
# The daemon's address is ctr-trio's: $CONTAINERD_TRIO_ADDRESS first, then $ADDRESS (this
# script's older name, kept), then 127.0.0.1:8888. curl takes HOST:PORT, http:// and https://
# as they are, and docker's tcp://HOST:PORT as HOST:PORT; a unix socket is refused (the
# README's calls are TCP ones).
#
# Each request is the README's, in its order, with its bodies verbatim; only the address and
# the bundle path are ours. The bundle is busybox printing the date every second (there is no
# redis here), made with examples/make-bundle.py. Each request is printed, then the HTTP status
# and the answer; the script stops at the first status it did not expect.
set -euo pipefail

ADDRESS=${CONTAINERD_TRIO_ADDRESS:-${ADDRESS:-127.0.0.1:8888}}
case $ADDRESS in
    tcp://*) ADDRESS=${ADDRESS#tcp://} ;;
    unix:* | http://unix:*)
        printf 'seed-walkthrough: %s is a unix socket; the README'"'"'s curl calls need a TCP address (HOST:PORT)\n' "$ADDRESS" >&2
        exit 2
        ;;
esac
BUNDLE=${BUNDLE:-/containers/redis}
here=$(cd "$(dirname "$0")" && pwd)

# --- plumbing ---------------------------------------------------------------------------------

quote() {  # an argument as a shell would need it: single-quoted when it holds anything odd
    if [[ $1 =~ ^[A-Za-z0-9_./:=@%+-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# request STATUS CURL-ARGS...: run curl, print the request and the answer, check the status.
# The answer's body is left in $answer.
request() {
    local expect=$1 arg out status
    shift
    printf '\n$ curl -sS'
    for arg in "$@"; do printf ' %s' "$(quote "$arg")"; done
    printf '\n'
    out=$(curl -sS -w '\n%{http_code}' "$@")
    status=${out##*$'\n'}
    answer=${out%$'\n'*}
    answer=${answer%$'\n'}  # the streams end with a newline of their own
    printf 'HTTP %s\n' "$status"
    if [ -n "$answer" ]; then
        python3 -m json.tool <<<"$answer" 2>/dev/null || printf '%s\n' "$answer"
    fi
    if [ "$status" != "$expect" ]; then
        printf 'seed-walkthrough: expected HTTP %s, got %s\n' "$expect" "$status" >&2
        exit 1
    fi
}

field() {  # field EXPRESSION: evaluate a Python expression on the last answer (as `a`)
    python3 -c "import json, sys; a = json.load(sys.stdin); print($1)" <<<"$answer"
}

wait_until() {  # wait_until EXPRESSION: poll GET /containers/redis until it holds (10 s at most)
    local tries
    for tries in $(seq 100); do
        answer=$(curl -sS "$ADDRESS/containers/redis")
        [ "$(field "$1")" = True ] && return 0
        sleep 0.1
    done
    printf 'seed-walkthrough: gave up waiting for %s\n' "$1" >&2
    exit 1
}

note() { printf '\n# %s\n' "$*"; }

# What this run made, removed if it stops early (a second run then starts afresh): the
# container, once started, and the checkpoints taken.
started=0
checkpoints=()
clean_up() {
    local status=$? name
    [ "$status" -eq 0 ] && return
    if [ "$started" -eq 1 ]; then
        curl -sS -o /dev/null -XDELETE "$ADDRESS/containers/redis?timeout=0" || true
    fi
    for name in "${checkpoints[@]}"; do
        curl -sS -o /dev/null -XDELETE "$ADDRESS/containers/redis/checkpoint/$name?bundlePath=$BUNDLE" || true
    done
    printf 'seed-walkthrough: stopped early; removed what this run made\n' >&2
}
trap clean_up EXIT

# --- the walk-through -------------------------------------------------------------------------

note "a busybox bundle at $BUNDLE"
"$here/make-bundle.py" "$BUNDLE"

note "Starting a container (the README's body without its checkpoint line; see the end)"
request 201 -XPOST "$ADDRESS/containers/redis" -d '{
"bundlePath": "'"$BUNDLE"'"
}'
started=1

note "Add a process to an existing container"
request 201 -XPUT "$ADDRESS/containers/redis/process" -d '{
"user" : {
"gid" : 0,
"uid" : 0
},
"args" : [
"sh",
"-c",
"sleep 10"
],
"env" : [
"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
"TERM=xterm"
]
}'
pid=$(field 'a["pid"]')

note "Signal a specific process in a container (pid $pid, the process just added)"
request 200 -XPOST "$ADDRESS/containers/redis/process/$pid" -d '{"signal": 15}'

# A checkpoint is refused (409) while a process started with exec runs: let its exit land.
wait_until "[p['pid'] for p in a['processes']].count($pid) == 0"

note "Get the state of containerd and all of its containers"
request 200 "$ADDRESS/state"

note "Create a checkpoint for a container"
request 201 -XPOST "$ADDRESS/containers/redis/checkpoint/test1" -d '{
"exit": false,
"tcp": false,
"unixSockets": false,
"shell": false
}'
checkpoints+=(test1)

note "List all checkpoints for a container"
request 200 "$ADDRESS/containers/redis/checkpoint"

note "Delete a container's checkpoint"
request 200 -XDELETE "$ADDRESS/containers/redis/checkpoint/test1"
checkpoints=()

note "Pause a container"
request 200 -XPATCH "$ADDRESS/containers/redis" -d '{"status": "paused"}'

note "Resume the container"
request 200 -XPATCH "$ADDRESS/containers/redis" -d '{"status": "running"}'

note "Signal the main process of a container"
request 200 -XPATCH "$ADDRESS/containers/redis" -d '{"signal": 9}'
wait_until "a['state']['status'] == 'stopped'"
note "stopped, exit status $(field "a['state']['exitStatus']") (128 + 9)"

# --- starting from a checkpoint ---------------------------------------------------------------

note "Starting from a checkpoint needs one taken with exit: true. A new start replaces the stopped record"
request 201 -XPOST "$ADDRESS/containers/redis" -d '{"bundlePath": "'"$BUNDLE"'"}'
sleep 2  # let it print a few dates
request 201 -XPOST "$ADDRESS/containers/redis/checkpoint/checkpoint-name" -d '{"exit": true}'
checkpoints+=(checkpoint-name)

note "The README's start-from-checkpoint body, verbatim: it is not JSON (a quote is missing)"
request 400 -XPOST "$ADDRESS/containers/redis" -d '{
"bundlePath": "'"$BUNDLE"'",
"checkpoint: "checkpoint-name"
}'

note "The same with the quote put back: restored where it stopped"
request 201 -XPOST "$ADDRESS/containers/redis" -d '{
"bundlePath": "'"$BUNDLE"'",
"checkpoint": "checkpoint-name"
}'

note "Its output goes on in the log it had: a restore over the stopped record keeps it"
sleep 2
request 200 "$ADDRESS/containers/redis/logs?tail=3"

# --- clean up ---------------------------------------------------------------------------------

note "Delete the container and the checkpoint"
request 200 -XDELETE "$ADDRESS/containers/redis?timeout=2"
request 200 -XDELETE "$ADDRESS/containers/redis/checkpoint/checkpoint-name?bundlePath=$BUNDLE"
