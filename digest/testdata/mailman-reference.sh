#!/bin/bash
# Produce reference digests from the real GNU Mailman 3.3.8 (Debian's
# mailman3) for digest/build_test.go:
#
#   digest/testdata/mailman-reference.sh [OUT_DIR]   (default: this directory)
#
# A private instance runs in a temporary directory (its own mailman.cfg,
# SQLite, LMTP on a free loopback port, outgoing SMTP to a Python sink on
# another), list test@example.com gets one MIME-digest member and one
# plain-digest member, three posts go in over LMTP, `mailman digests --send`
# sends issue 1 of volume 1, and the sink's two messages are kept:
#
#   mailman-3.3.8-mime.eml   what the mime_digests member received
#   mailman-3.3.8-plain.eml  what the plaintext_digests member received
#   post-N.eml               the posts as Mailman kept them in the list's
#                            digest mailbox: what its digester was given
#   digest-header.txt        the list's digest header (a list template)
#   digest-footer.txt        the list's digest footer (Mailman's default)
#
# Mailman refuses to run as root; as root, everything Mailman runs as the
# Debian user 'list'. The system instance (/etc/mailman3) is never touched.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "${1:-$HERE}" && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/mm3digest.XXXXXX)
chmod 755 "$TMP"
if [ "$(id -u)" = 0 ]; then
  AS=(setpriv --reuid=list --regid=list --init-groups --)
else
  AS=()
fi
SINK_PID=
cleanup() {
  set +e
  if [ -s "$TMP/var/master.pid" ] && kill -0 "$(cat "$TMP/var/master.pid")" 2>/dev/null; then
    (cd "$TMP" && "${AS[@]}" mailman -C "$TMP/mailman.cfg" stop >/dev/null 2>&1)
    for _ in $(seq 100); do kill -0 "$(cat "$TMP/var/master.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

read -r LMTP_PORT SMTP_PORT REST_PORT < <($PY - <<'PYEOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(('127.0.0.1', 0))
print(*(s.getsockname()[1] for s in socks))
PYEOF
)

# The SMTP sink: each message it is given becomes N.eml (the DATA as
# received, CRLF) and N.rcpt (its envelope recipients, one a line).
mkdir -p "$TMP/sink"
cat > "$TMP/sink.py" <<'PYEOF'
import asyncio, itertools, os, sys
from aiosmtpd.controller import Controller

out, port = sys.argv[1], int(sys.argv[2])
counter = itertools.count(1)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        path = os.path.join(out, str(n))
        with open(path + '.rcpt.tmp', 'w') as f:
            f.write('\n'.join(envelope.rcpt_tos) + '\n')
        with open(path + '.eml', 'wb') as f:
            f.write(envelope.original_content)
        os.rename(path + '.rcpt.tmp', path + '.rcpt')
        return '250 OK'

# decode_data=False and no SMTPUTF8 fuss: the bytes are kept as sent.
controller = Controller(Sink(), hostname='127.0.0.1', port=port)
controller.start()
print('sink ready', flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
PYEOF
$PY "$TMP/sink.py" "$TMP/sink" "$SMTP_PORT" > "$TMP/sink.log" 2>&1 &
SINK_PID=$!

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

[webservice]
hostname: 127.0.0.1
port: $REST_PORT

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
smtp_host: 127.0.0.1
smtp_port: $SMTP_PORT
lmtp_host: 127.0.0.1
lmtp_port: $LMTP_PORT
CFGEOF

# The list's own digest header, from where Mailman looks for list
# templates ($template_dir/lists/<list-id>/<language>/).
mkdir -p "$TMP/var/templates/lists/test.example.com/en"
printf 'This is the digest header of the $display_name list.\nIt has two lines.\n' \
  > "$TMP/var/templates/lists/test.example.com/en/list:member:digest:header.txt"

cat > "$TMP/refsetup.py" <<'PYEOF'
from mailman.interfaces.action import Action
from mailman.interfaces.member import DeliveryMode, MemberRole
from mailman.interfaces.usermanager import IUserManager
from mailman.utilities.datetime import now
from zope.component import getUtility


def setup(mlist):
    mlist.default_nonmember_action = Action.accept
    mlist.send_welcome_message = False
    mlist.admin_notify_mchanges = False
    users = getUtility(IUserManager)
    for email, mode in (('mime@example.org', DeliveryMode.mime_digests),
                        ('plain@example.org', DeliveryMode.plaintext_digests)):
        address = users.create_address(email)
        address.verified_on = now()
        member = mlist.subscribe(address, MemberRole.member)
        member.preferences.delivery_mode = mode
    print(mlist.fqdn_listname, mlist.display_name, repr(mlist.subject_prefix),
          mlist.volume, mlist.next_digest_number)


def texts(mlist, out):
    from mailman.handlers.decorate import decorate
    for name in ('header', 'footer'):
        with open('{}/digest-{}.txt'.format(out, name), 'w') as f:
            f.write(decorate('list:member:digest:' + name, mlist))
PYEOF
chown -R list:list "$TMP/var" "$TMP/refsetup.py" "$TMP/mailman.cfg" 2>/dev/null || true
mm() { (cd "$TMP" && "${AS[@]}" env PYTHONPATH="$TMP" mailman -C "$TMP/mailman.cfg" "$@"); }

mm create -N test@example.com
mm shell -l test@example.com -r refsetup.setup

for _ in $(seq 100); do grep -q 'sink ready' "$TMP/sink.log" && break; sleep 0.1; done
mm start > "$TMP/start.log" 2>&1
for _ in $(seq 300); do
  $PY -c "import smtplib,sys; smtplib.LMTP('127.0.0.1', $LMTP_PORT, timeout=2).quit()" 2>/dev/null && break
  sleep 0.2
done

# The three posts: plain ASCII; a UTF-8 subject (RFC 2047), name and body;
# a multipart/mixed with a text part and a small PDF.
mkdir -p "$TMP/posts"
$PY - "$TMP/posts" <<'PYEOF'
import base64, sys
out = sys.argv[1]
posts = [
b"""From: Anne Person <anne@example.org>
To: test@example.com
Subject: A first plain post
Date: Mon, 06 Jan 2025 10:00:00 +0000
Message-ID: <post-1@example.org>

Hello, list.

This is the first post: plain ASCII text.
""",
b"""From: =?utf-8?q?Ren=C3=A9e_Kl=C3=BCver?= <renee@example.org>
To: test@example.com
Subject: =?utf-8?q?Caf=C3=A9_cr=C3=A8me_br=C3=BBl=C3=A9e_=E2=80=94_a_long_subject_about?=
 =?utf-8?q?_desserts_that_will_have_to_wrap_in_the_topics?=
Date: Mon, 06 Jan 2025 11:00:00 +0100
Message-ID: <post-2@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln!

Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e costs 5 \xe2\x82\xac.
""",
None,
]
pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
       b"trailer << /Root 1 0 R >>\n%%EOF\n")
b64 = base64.encodebytes(pdf)
posts[2] = (b"""From: bob@example.org
To: test@example.com
Subject: Re: [Test] The minutes, attached
Date: Mon, 06 Jan 2025 12:30:00 -0500
Message-ID: <post-3@example.org>
In-Reply-To: <post-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==post3=="

This is a multi-part message in MIME format.

--==post3==
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

The minutes are attached.

--==post3==
Content-Type: application/pdf; name="minutes.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="minutes.pdf"
Content-Description: Minutes of the meeting

""" + b64 + b"""
--==post3==--
""")
for i, p in enumerate(posts, 1):
    with open('{}/sent-{}.eml'.format(out, i), 'wb') as f:
        f.write(p)
PYEOF

MBOX=$TMP/var/lists/test.example.com/digest.mmdf
for i in 1 2 3; do
  $PY - "$TMP/posts/sent-$i.eml" "$LMTP_PORT" <<'PYEOF'
import smtplib, sys
with open(sys.argv[1], 'rb') as f:
    data = f.read()
lmtp = smtplib.LMTP('127.0.0.1', int(sys.argv[2]))
lmtp.sendmail('poster@example.org', ['test@example.com'], data)
lmtp.quit()
PYEOF
  # One at a time, so that the mailbox holds them in this order.
  for _ in $(seq 600); do
    [ -f "$MBOX" ] && [ "$(grep -c $'^\x01\x01\x01\x01$' "$MBOX")" -ge $((2 * i)) ] && break
    sleep 0.1
  done
  [ "$(grep -c $'^\x01\x01\x01\x01$' "$MBOX")" -ge $((2 * i)) ] || { echo "post $i never reached the digest mailbox" >&2; exit 1; }
done

# The posts as the digester reads them, before sending takes the mailbox away.
$PY - "$MBOX" "$OUT" <<'PYEOF'
import mailbox, sys
box = mailbox.MMDF(sys.argv[1], create=False)
for n, key in enumerate(sorted(box.keys()), 1):
    with open('{}/post-{}.eml'.format(sys.argv[2], n), 'wb') as f:
        f.write(box.get_bytes(key))
PYEOF
mkdir -p "$TMP/texts" && chmod 777 "$TMP/texts"
mm shell -l test@example.com -r refsetup.texts "$TMP/texts" >/dev/null
cp "$TMP/texts/digest-header.txt" "$TMP/texts/digest-footer.txt" "$OUT/"

mm digests -l test@example.com --send
for _ in $(seq 600); do
  [ "$(ls "$TMP/sink" | grep -c '\.rcpt$')" -ge 2 ] && break
  sleep 0.1
done
for r in "$TMP"/sink/*.rcpt; do
  case $(cat "$r") in
    mime@example.org) cp "${r%.rcpt}.eml" "$OUT/mailman-3.3.8-mime.eml" ;;
    plain@example.org) cp "${r%.rcpt}.eml" "$OUT/mailman-3.3.8-plain.eml" ;;
    *) echo "unexpected message to $(cat "$r")" >&2 ;;
  esac
done
[ -f "$OUT/mailman-3.3.8-mime.eml" ] && [ -f "$OUT/mailman-3.3.8-plain.eml" ] || {
  echo "the digests never reached the sink; see $TMP/var/logs" >&2; KEEP_TMP=1; exit 1; }
echo "wrote $OUT/mailman-3.3.8-{mime,plain}.eml and post-{1,2,3}.eml"
