#!/usr/bin/env bash
# Imports the kafka-pulse Kibana saved objects (data views, saved searches,
# visualizations, dashboard) into Kibana 8.x. Objects with the same id are
# overwritten, so running it again is safe.
#
# Environment:
#   KIBANA_URL        Kibana base URL (default http://127.0.0.1:5601)
#   KIBANA_API_KEY    API key (the base64 "encoded" value), sent as
#                     "Authorization: ApiKey ..."; or
#   KIBANA_USERNAME / KIBANA_PASSWORD   basic authentication
#   KIBANA_SPACE      space id to import into (default: the default space)
#   KIBANA_CA_CERT    PEM file of the CA that signed Kibana's certificate
#   KIBANA_WAIT_TRIES how many times to ask /api/status, 2 s apart (default 60)
#
# Secrets are passed to curl on its standard input, never on its command line,
# and are never printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ndjson="$here/kibana/kafka-pulse.ndjson"

kibana_url="${KIBANA_URL:-http://127.0.0.1:5601}"
kibana_url="${kibana_url%/}"
import_url="$kibana_url"
if [[ -n "${KIBANA_SPACE:-}" ]]; then
  import_url="$kibana_url/s/$KIBANA_SPACE"
fi
wait_tries="${KIBANA_WAIT_TRIES:-60}"

die() {
  echo "import.sh: $*" >&2
  exit 1
}

command -v curl >/dev/null || die "curl is required"
[[ -r "$ndjson" ]] || die "cannot read $ndjson"
if [[ -n "${KIBANA_CA_CERT:-}" && ! -r "$KIBANA_CA_CERT" ]]; then
  die "cannot read KIBANA_CA_CERT $KIBANA_CA_CERT"
fi
if [[ -n "${KIBANA_USERNAME:-}" && -z "${KIBANA_PASSWORD:-}" ]]; then
  die "KIBANA_USERNAME is set but KIBANA_PASSWORD is not"
fi

# A value quoted for a curl config file.
curl_quote() {
  local value="$1"
  value="${value//\\/\\\\}"
  value="${value//\"/\\\"}"
  printf '"%s"' "$value"
}

# curl with the credentials given on stdin as a config file (-K -).
kcurl() {
  {
    if [[ -n "${KIBANA_API_KEY:-}" ]]; then
      printf 'header = %s\n' "$(curl_quote "Authorization: ApiKey $KIBANA_API_KEY")"
    elif [[ -n "${KIBANA_USERNAME:-}" ]]; then
      printf 'user = %s\n' "$(curl_quote "$KIBANA_USERNAME:$KIBANA_PASSWORD")"
    fi
    if [[ -n "${KIBANA_CA_CERT:-}" ]]; then
      printf 'cacert = %s\n' "$(curl_quote "$KIBANA_CA_CERT")"
    fi
  } | curl -K - --silent --show-error "$@"
}

echo "Waiting for Kibana at $kibana_url ..."
status=""
for ((try = 1; try <= wait_tries; try++)); do
  status="$(kcurl --connect-timeout 5 --max-time 10 -o /dev/null -w '%{http_code}' \
    "$kibana_url/api/status" 2>/dev/null || true)"
  case "$status" in
    200) break ;;
    401 | 403) die "Kibana refused the credentials (HTTP $status on /api/status); set KIBANA_API_KEY or KIBANA_USERNAME/KIBANA_PASSWORD" ;;
  esac
  if ((try < wait_tries)); then sleep 2; fi
done
[[ "$status" == 200 ]] || die "Kibana at $kibana_url not ready after $wait_tries tries (last HTTP status: ${status:-none})"

echo "Importing $(basename "$ndjson") into $import_url ..."
response_file="$(mktemp)"
trap 'rm -f "$response_file"' EXIT
http_code="$(kcurl --max-time 120 -o "$response_file" -w '%{http_code}' \
  -X POST "$import_url/api/saved_objects/_import?overwrite=true" \
  -H 'kbn-xsrf: true' \
  --form "file=@$ndjson")" || die "request to $import_url failed"
response="$(cat "$response_file")"

if [[ "$http_code" != 200 ]] || ! grep -q '"success"[[:space:]]*:[[:space:]]*true' <<<"$response"; then
  echo "import.sh: Kibana did not import the saved objects (HTTP $http_code):" >&2
  echo "$response" >&2
  exit 1
fi

count="$(sed -n 's/.*"successCount"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' <<<"$response")"
echo "Imported ${count:-the} saved objects. Open Dashboards > \"kafka-pulse: what happened\"."
