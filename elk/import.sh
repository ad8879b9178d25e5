#!/usr/bin/env bash
# Imports the kafka-pulse saved objects (index patterns, saved searches,
# visualizations, dashboard) into Kibana 8.x or OpenSearch Dashboards 1.x-3.x.
# Objects with the same id are overwritten, so running it again is safe.
#
# Usage: import.sh [--kibana | --opensearch-dashboards]
#   Without either, the server is recognised from GET /api/status: version
#   1.x-3.x (or "opensearch" in the answer) is OpenSearch Dashboards, which
#   gets opensearch-dashboards/kafka-pulse.ndjson and the osd-xsrf header;
#   anything else is Kibana (kibana/kafka-pulse.ndjson, kbn-xsrf).
#
# Environment (the same names for both):
#   KIBANA_URL        base URL (default http://127.0.0.1:5601)
#   KIBANA_API_KEY    API key (the base64 "encoded" value), sent as
#                     "Authorization: ApiKey ..." (Kibana); or
#   KIBANA_USERNAME / KIBANA_PASSWORD   basic authentication
#   KIBANA_SPACE      Kibana space id to import into (default: the default
#                     space; OpenSearch Dashboards has no spaces)
#   KIBANA_CA_CERT    PEM file of the CA that signed the server's certificate
#   KIBANA_WAIT_TRIES how many times to ask /api/status, 2 s apart (default 60)
#
# Secrets are passed to curl on its standard input, never on its command line,
# and are never printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

flavor=auto
for arg in "$@"; do
  case "$arg" in
    --kibana) flavor=kibana ;;
    --opensearch-dashboards) flavor=opensearch-dashboards ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "import.sh: unknown argument $arg (--kibana or --opensearch-dashboards)" >&2
      exit 2
      ;;
  esac
done

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

echo "Waiting for $kibana_url ..."
response_file="$(mktemp)"
trap 'rm -f "$response_file"' EXIT
status=""
for ((try = 1; try <= wait_tries; try++)); do
  status="$(kcurl --connect-timeout 5 --max-time 10 -o "$response_file" -w '%{http_code}' \
    "$kibana_url/api/status" 2>/dev/null || true)"
  case "$status" in
    200) break ;;
    401 | 403) die "the server refused the credentials (HTTP $status on /api/status); set KIBANA_API_KEY or KIBANA_USERNAME/KIBANA_PASSWORD" ;;
  esac
  if ((try < wait_tries)); then sleep 2; fi
done
[[ "$status" == 200 ]] || die "$kibana_url not ready after $wait_tries tries (last HTTP status: ${status:-none})"

if [[ "$flavor" == auto ]]; then
  # Kibana is 7.x and later; OpenSearch Dashboards, forked from Kibana
  # 7.10, numbers its releases from 1.0, and its status names its
  # "opensearch" core service.
  major="$(sed -n 's/.*"version"[[:space:]]*:[[:space:]]*{[^}]*"number"[[:space:]]*:[[:space:]]*"\([0-9]*\)\..*/\1/p' "$response_file" | head -n 1)"
  if [[ -n "$major" && "$major" -lt 7 ]] || grep -qi '"core:opensearch@\|"opensearch"[[:space:]]*:' "$response_file"; then
    flavor=opensearch-dashboards
  else
    flavor=kibana
  fi
fi
if [[ "$flavor" == opensearch-dashboards ]]; then
  product="OpenSearch Dashboards"
  ndjson="$here/opensearch-dashboards/kafka-pulse.ndjson"
  xsrf_header='osd-xsrf: true'
  [[ -z "${KIBANA_SPACE:-}" ]] || die "OpenSearch Dashboards has no spaces: unset KIBANA_SPACE"
else
  product="Kibana"
  ndjson="$here/kibana/kafka-pulse.ndjson"
  xsrf_header='kbn-xsrf: true'
fi
[[ -r "$ndjson" ]] || die "cannot read $ndjson"

echo "Importing ${ndjson#"$here"/} into $product at $import_url ..."
http_code="$(kcurl --max-time 120 -o "$response_file" -w '%{http_code}' \
  -X POST "$import_url/api/saved_objects/_import?overwrite=true" \
  -H "$xsrf_header" \
  --form "file=@$ndjson")" || die "request to $import_url failed"
response="$(cat "$response_file")"

if [[ "$http_code" != 200 ]] || ! grep -q '"success"[[:space:]]*:[[:space:]]*true' <<<"$response"; then
  echo "import.sh: $product did not import the saved objects (HTTP $http_code):" >&2
  echo "$response" >&2
  exit 1
fi

count="$(sed -n 's/.*"successCount"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' <<<"$response")"
echo "Imported ${count:-the} saved objects. Open Dashboards > \"kafka-pulse: what happened\"."
