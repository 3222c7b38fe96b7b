# Start pgw-lab scenarios in the background and stop every one of them, whatever happens.
# Source it, set PGW_LAB_BIN to the pgw-lab binary, call lab_cleanup_on_exit once, then lab_up.
# (Used by scripts/demo.sh; tests/integration/scripts.rs checks that nothing is left running.)

lab_work="$(mktemp -d)"
lab_pids=()

# Stop every lab started here and remove their logs.
lab_cleanup() {
  local p
  for p in "${lab_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${lab_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  lab_pids=()
  rm -rf "$lab_work"
}

# On success, failure and Ctrl-C alike.
lab_cleanup_on_exit() {
  trap lab_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Start scenario $1 in the background (in this shell, so its PID is recorded for the cleanup) and
# set LAB_ARGS to the pgw-doctor arguments it announces.
lab_up() {
  local name="$1" log="$lab_work/$1.log"
  "$PGW_LAB_BIN" up --scenario "$name" >"$log" 2>&1 &
  lab_pids+=($!)
  local _
  for _ in $(seq 300); do
    grep -q '^  pgw-doctor ' "$log" 2>/dev/null && break
    sleep 0.1
  done
  LAB_ARGS="$(grep '^  pgw-doctor ' "$log" | sed 's/^  pgw-doctor //')"
  [ -n "$LAB_ARGS" ] || { echo "pgw-lab did not start $name:" >&2; cat "$log" >&2; return 1; }
}

# Write probe file $1 (probe name $2) for pgw-agent from pgw-doctor arguments $3…: the probe file's
# keys mirror the flags.
lab_probe_file() {
  local file="$1" name="$2" resolvers=() roles=()
  shift 2
  {
    echo "name = \"$name\""
    echo 'interval = "5s"'
    while [ "$#" -gt 0 ]; do
      case "$1" in
        --no-aws) echo "no_aws = true" ;;
        --sigv4) echo "sigv4 = true" ;;
        --resolver) resolvers+=("\"$2\""); shift ;;
        --role) roles+=("\"${2%%=*}\" = \"${2#*=}\""); shift ;;
        --port) echo "port = $2"; shift ;;
        --*) local key="${1#--}"; echo "${key//-/_} = \"$2\""; shift ;;
      esac
      shift
    done
    local IFS=,
    [ "${#resolvers[@]}" -eq 0 ] || echo "resolvers = [${resolvers[*]}]"
    [ "${#roles[@]}" -eq 0 ] || echo "roles = { ${roles[*]} }"
  } >"$file"
}
