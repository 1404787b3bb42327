#!/bin/bash
# Produce what the real GNU Mailman 3.3.8 (Debian's mailman3) makes of
# Mailman 2.1 list configurations, for migrate/import21_test.go:
#
#   migrate/testdata/mailman-import21.sh [OUT_DIR]   (default: this directory)
#
# For each of the three config.pck files Mailman's own test suite ships
# (mailman/testing/config.pck, config-with-instances.pck, config-greek.pck)
# and for config-features.pck here (config.pck with every setting the
# import maps changed, made by make-features-pickle.py), a private instance (its own mailman.cfg and SQLite in a temporary
# directory; no runner is started) creates test@example.com, runs
# `mailman import21 test@example.com FILE`, and writes what the list then
# is to mailman-3.3.8-NAME.json: its settings as Mailman's REST API shows
# them (rest/listconf.py's ATTRIBUTES, JSON as the API encodes it), each
# member in each role with its delivery mode and status, moderation
# action, display name and preferences, the bans, the header matches, and
# the templates it wrote.
#
# Mailman refuses to run as root; as root, Mailman runs as the Debian user
# 'list'. The system instance (/etc/mailman3) is never touched.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "${1:-$HERE}" && pwd)
PCK=/usr/lib/python3/dist-packages/mailman/testing
if [ "$(id -u)" = 0 ]; then
  AS=(setpriv --reuid=list --regid=list --init-groups --)
else
  AS=()
fi
python3 "$HERE/make-features-pickle.py" "$PCK/config.pck" "$HERE/config-features.pck"
for name in config config-with-instances config-greek config-features; do
  TMP=$(mktemp -d /tmp/mm3import21.XXXXXX)
  chmod 755 "$TMP"
  mkdir -p "$TMP/var"
  cat > "$TMP/mailman.cfg" <<CFGEOF
[mailman]
layout: ref
site_owner: owner@example.com
default_language: en

[paths.ref]
var_dir: $TMP/var
bin_dir: /usr/lib/mailman3/bin
log_dir: $TMP/var/logs
pid_file: $TMP/var/master.pid

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///\$DATA_DIR/mailman.db

[mta]
incoming: mailman.mta.null.NullMTA

[language.el]
description: Greek
charset: utf-8
enabled: yes
CFGEOF
  cat > "$TMP/refdump.py" <<'PYEOF'
import json, os, sys
from mailman.interfaces.bans import IBanManager
from mailman.interfaces.mailinglist import IHeaderMatchList
from mailman.interfaces.member import MemberRole
from mailman.rest.helpers import ExtendedEncoder
from mailman.rest.listconf import ATTRIBUTES


def dump(mlist):
    settings = {}
    for name, getter in sorted(ATTRIBUTES.items()):
        try:
            settings[name] = json.loads(json.dumps(getter.get(mlist, name), cls=ExtendedEncoder))
        except Exception as e:
            settings[name] = 'ERROR: {}'.format(e)
    members = []
    for role in MemberRole:
        for m in mlist.get_roster(role).members:
            p = m.preferences
            members.append(dict(
                role=role.name, address=m.address.original_email, display_name=m.address.display_name or '',
                delivery_mode=p.delivery_mode.name if p.delivery_mode else None,
                delivery_status=p.delivery_status.name if p.delivery_status else None,
                moderation_action=m.moderation_action.name if m.moderation_action else None,
                preferred_language=p.preferred_language.code if p.preferred_language else None,
                acknowledge_posts=p.acknowledge_posts, hide_address=p.hide_address,
                receive_own_postings=p.receive_own_postings, receive_list_copy=p.receive_list_copy))
    members.sort(key=lambda m: (m['role'], m['address'].lower()))
    templates = {}
    tdir = os.path.join(os.environ['MM_VAR'], 'templates', 'lists', mlist.list_id)
    for root, _, files in os.walk(tdir):
        for f in files:
            with open(os.path.join(root, f), encoding='utf-8') as fp:
                templates[f[:-len('.txt')]] = fp.read()
    out = dict(
        settings=settings, members=members,
        bans=sorted(IBanManager(mlist).bans and [b.email for b in IBanManager(mlist).bans] or []),
        header_matches=[dict(header=h.header, pattern=h.pattern, action=h.chain) for h in IHeaderMatchList(mlist)],
        templates=templates)
    with open(os.environ['MM_OUT'], 'w', encoding='utf-8') as f:
        json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write('\n')
PYEOF
  if [ "$name" = config-features ]; then cp "$HERE/$name.pck" "$TMP/"; else cp "$PCK/$name.pck" "$TMP/"; fi
  chown -R list:list "$TMP" 2>/dev/null || true
  mm() { (cd "$TMP" && "${AS[@]}" env PYTHONPATH="$TMP" MM_VAR="$TMP/var" MM_OUT="$TMP/out.json" mailman -C "$TMP/mailman.cfg" "$@"); }
  mm create -N test@example.com > /dev/null
  mm import21 test@example.com "$TMP/$name.pck" > "$TMP/import.log" 2>&1 || { cat "$TMP/import.log" >&2; exit 1; }
  mm shell -l test@example.com -r refdump.dump
  cp "$TMP/out.json" "$OUT/mailman-3.3.8-$name.json"
  echo "$name: $(grep -c '"role"' "$OUT/mailman-3.3.8-$name.json") memberships" >&2
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
done
