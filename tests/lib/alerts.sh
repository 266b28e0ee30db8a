# tests/lib/alerts.sh: reading the alert mails that an SMTP sink (smtp.sh) received from
# watchd's self-monitoring (source after smtp.sh and cluster.sh).
#   notify_lines                  the [notify] section for node_conf (mail to the sink)
#   mail_of KIND NODE [resolved]  prints the path of the first such mail, or fails
#   wait_mail SECS KIND NODE [resolved]
#   mail_subjects                 every subject received, one a line
#   mail_header FILE NAME         one header's value
#   mail_has FILE TEXT            the body has a line containing TEXT (fixed string)
#   mail_rcpts FILE               the envelope's recipients, comma-separated
#   problem_kinds NODE            the kinds in `vipctl status --json` .problems, sorted, one line
#   event_has NODE KIND TEXT      hs_event has a row of NODE, KIND, detail containing TEXT
ALERT_RCPTS='ops@example.test, oncall@example.test'

notify_lines() {
    printf '%s\n' "[notify]" "email = $ALERT_RCPTS" "smtp_url = $SMTP_URL" "starttls = no" \
        "from = hotstandby <hs@example.test>" "$@"
}

mail_of() {
    /usr/bin/python3 "$HS_TOP/tests/lib/alert-mail.py" find "$SMTP_DIR" \
        "[hotstandby] $HS_CLUSTER: $1 on $2${3:+ $3}"
}
wait_mail() { local secs=$1; shift; wait_for "$secs" mail_of "$@"; }
mail_subjects() { /usr/bin/python3 "$HS_TOP/tests/lib/alert-mail.py" subjects "$SMTP_DIR"; }

mail_header() { tr -d '\r' <"$1" | sed -n "/^\$/q; s/^$2: //p" | head -n 1; }
mail_has() { tr -d '\r' <"$1" | grep -qF -- "$2"; }
mail_rcpts() { /usr/bin/python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["to"]))' "${1%.eml}.env"; }

problem_kinds() {
    vipctl_node "$1" status --json 2>/dev/null | jq -r '[.problems[].kind] | sort | join(" ")'
}
event_has() {
    [ "$(psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER' AND node='$1'
                  AND kind='$2' AND strpos(detail, '$3') > 0")" -gt 0 ]
}

# check_mail KIND NODE [resolved]: the mail arrived (within 60 s: loaded machines, sanitizer builds) to both recipients, with
# the facts every alert carries (and, resolved, when and after how long); sets MAIL.
check_mail() {
    local label="$1 on $2${3:+ $3}" why
    MAIL=
    if ! wait_mail 60 "$@"; then
        ok 1 "mail '$label' arrives"
        diag "subjects so far: $(mail_subjects | tr '\n' '|')"
        return 1
    fi
    MAIL=$(mail_of "$@")
    why=$(/usr/bin/python3 "$HS_TOP/tests/lib/alert-mail.py" facts "$MAIL" "$HS_CLUSTER" "$2" ${3:+resolved})
    ok $? "mail '$label' arrives, to both recipients, with its facts"
    [ -z "$why" ] || diag "$why"
}
