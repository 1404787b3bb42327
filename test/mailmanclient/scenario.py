"""A site's life through Debian's mailmanclient, the library Postorius,
HyperKitty and admins' scripts use, against a running mailman-go.

Run by test/mailmanclient_test.go, which starts the site and passes:
REST_URL (with /3.1), LMTP_PORT, and SINK_DIR, where each message the MTA
sink took is a JSON file {"from", "to", "data"}. Exits non-zero, saying
which step failed, on the first thing that is not as Mailman does it.
"""

import glob
import json
import os
import re
import smtplib
import sys
import time
from urllib.error import HTTPError

from mailmanclient import Client

REST_URL = os.environ["REST_URL"]
LMTP_PORT = int(os.environ["LMTP_PORT"])
SINK_DIR = os.environ["SINK_DIR"]

client = Client(REST_URL, "restadmin", "restpass")


def step(what):
    print("--", what, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_http(code, fn, *args, **kwargs):
    """fn must fail with HTTP status code; its description is returned."""
    try:
        fn(*args, **kwargs)
    except HTTPError as e:
        check(e.code == code, "%s: HTTP %d (%s), want %d" % (fn, e.code, e.msg, code))
        return e.msg
    raise AssertionError("%s: no error, want HTTP %d" % (fn, code))


def mail_to(rcpt, subject_part, timeout=30):
    """The first message the sink took for rcpt whose Subject holds
    subject_part, waiting for it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for f in sorted(glob.glob(os.path.join(SINK_DIR, "*.json"))):
            with open(f) as fh:
                d = json.load(fh)
            subject = re.search(r"(?mi)^Subject: (.*)$", d["data"])
            if rcpt in d["to"] and subject and subject_part in subject.group(1):
                return d
        time.sleep(0.1)
    raise AssertionError("no message for %s with %r in its Subject within %ds" % (rcpt, subject_part, timeout))


def lmtp(sender, rcpt, text):
    with smtplib.LMTP("127.0.0.1", LMTP_PORT) as c:
        refused = c.sendmail(sender, [rcpt], text)
        check(not refused, "LMTP refused %s: %s" % (rcpt, refused))


def wait(what, cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


step("system")
check(client.system["mailman_version"].startswith("GNU Mailman 3"), client.system)
check(client.system["api_version"] == "3.1", client.system)
check(client.preferences["delivery_mode"] == "regular", dict(client.preferences))

step("domain and its owner")
domain = client.create_domain("example.com", description="Examples")
check([d.mail_host for d in client.domains] == ["example.com"], client.domains)
domain.add_owner("boss@example.com")
check([str(o.addresses[0]) for o in domain.owners] == ["boss@example.com"], domain.owners)
check(expect_http(400, client.create_domain, "example.com") == "Duplicate email host: example.com", "duplicate domain")

step("lists, with a style, found by address and by list-id")
ant = domain.create_list("ant")
check(ant.fqdn_listname == "ant@example.com" and ant.list_id == "ant.example.com", ant)
bee = domain.create_list("bee", style_name="private-default")
check(bee.settings["advertised"] is False and bee.settings["archive_policy"] == "private", "private-default style")
check(client.get_list("ant.example.com").fqdn_listname == "ant@example.com", "get_list by list-id")
check(expect_http(400, domain.create_list, "ant") == "Mailing list exists", "duplicate list")
expect_http(404, client.get_list, "nope@example.com")
styles = client.styles
check("legacy-announce" in styles["style_names"] and styles["default"] == "legacy-default", styles)

step("paging")
page = client.get_list_page(count=1, page=1)
check(page.total_size == 2 and len(page) == 1 and page.has_next, page)
check(len(page.next) == 1 and not page.next.has_next, "the second page")
check(len(client.get_list_page(count=1, page=3)) == 0, "a page past the end")
check([l.list_id for l in client.get_lists(advertised=True)] == ["ant.example.com"], "advertised lists")

step("settings, read and saved, with Mailman's validation")
settings = ant.settings
check(len(settings) >= 92, "config has %d keys" % len(settings))
settings["description"] = "All about ants"
settings["subscription_policy"] = "confirm"
settings["acceptable_aliases"] = ["ants@example.com", "^ant-.*@example.com"]
settings["default_nonmember_action"] = "hold"
settings.save()
settings = ant.settings
check(settings["description"] == "All about ants" and settings["subscription_policy"] == "confirm", dict(settings))
check(settings["acceptable_aliases"] == ["ants@example.com", "^ant-.*@example.com"], settings["acceptable_aliases"])
settings["subscription_policy"] = "bogus"
msg = expect_http(400, settings.save)
check("Accepted Values are: open, confirm, moderate, confirm_then_moderate" in msg, msg)
check(ant.archivers is not None, "archivers")

step("owners and moderators")
ant.add_owner("owner@example.com", "Olive Owner")
ant.add_moderator("mod@example.com")
check([o.email for o in ant.owners] == ["owner@example.com"], ant.owners)
check([m.email for m in ant.moderators] == ["mod@example.com"], ant.moderators)
check(ant.is_owner("owner@example.com") and ant.is_moderator("mod@example.com"), "is_owner/is_moderator")

step("subscribe without confirmation")
anne = ant.subscribe("anne@example.com", "Anne Person", pre_verified=True, pre_confirmed=True)
check(anne.email == "anne@example.com" and anne.role == "member", anne)
mail_to("anne@example.com", 'Welcome to the "Ant" mailing list')
check(expect_http(409, ant.subscribe, "anne@example.com", pre_verified=True, pre_confirmed=True) == "Member already subscribed", "409")

step("subscribe with confirmation: the mail reaches the sink, the reply confirms")
pending = ant.subscribe("bob@example.com", "Bob")
check(pending["token_owner"] == "subscriber" and len(pending["token"]) == 40, pending)
check(expect_http(409, ant.subscribe, "bob@example.com") == "Subscription request already pending", "pending 409")
check([r["email"] for r in ant.requests] == ["bob@example.com"], ant.requests)
confirmation = mail_to("bob@example.com", "Your confirmation is needed to join")
confirm_from = re.search(r"(?m)^From: (\S+)\r?$", confirmation["data"]).group(1)
check(pending["token"] in confirm_from, confirm_from)
lmtp("bob@example.com", confirm_from,
     "From: bob@example.com\r\nTo: %s\r\nSubject: Re: confirm\r\nMessage-ID: <reply-1@example.com>\r\n\r\nyes\r\n" % confirm_from)
wait("bob to be a member", lambda: ant.is_member("bob@example.com"))
mail_to("bob@example.com", 'Welcome to the "Ant" mailing list')

step("moderator approval")
settings = ant.settings
settings["subscription_policy"] = "moderate"
settings.save()
pending = ant.subscribe("carl@example.com", pre_verified=True, pre_confirmed=True)
check(pending["token_owner"] == "moderator", pending)
mail_to("owner@example.com", "New subscription request to Ant from carl@example.com")
check(ant.get_requests_count(token_owner="moderator") == 1, "requests count")
ant.moderate_request(pending["token"], "accept")
check(ant.is_member("carl@example.com"), "carl after approval")
pending = ant.subscribe("dan@example.com", pre_verified=True, pre_confirmed=True)
ant.moderate_request(pending["token"], "reject", "no dans")
mail_to("dan@example.com", "rejected")
check(not ant.is_member("dan@example.com"), "dan after rejection")

step("members, find, member pages")
check(sorted(m.email for m in ant.members) == ["anne@example.com", "bob@example.com", "carl@example.com"], ant.members)
check([m.email for m in ant.find_members("*ann*")] == ["anne@example.com"], "find with a wildcard")
check([m.email for m in ant.find_members(role="owner")] == ["owner@example.com"], "find by role")
page = ant.get_member_page(count=2, page=1)
check(page.total_size == 3 and len(page) == 2 and page.has_next and len(page.next) == 1, "member pages")
check(len(client.members) == 5, client.members)  # every role, as Mailman

step("member preferences")
anne = ant.get_member("anne@example.com")
prefs = anne.preferences
prefs["receive_own_postings"] = False
prefs["delivery_mode"] = "plaintext_digests"
prefs.save()
prefs = ant.get_member("anne@example.com").preferences
check(prefs["receive_own_postings"] is False and prefs["delivery_mode"] == "plaintext_digests", dict(prefs))
prefs["delivery_mode"] = "regular"
prefs.save()

step("users and addresses")
user = client.get_user("anne@example.com")
check([str(a) for a in user.addresses] == ["anne@example.com"], user.addresses)
other = user.add_address("anne.person@example.org")
check(not other.verified, "a new address is unverified")
other.verify()
user.preferred_address = "anne.person@example.org"
check(str(client.get_user(user.user_id).preferred_address) == "anne.person@example.org", "preferred address")
other.unverify()
check(client.get_user(user.user_id).preferred_address is None, "an unverified address is no longer preferred")
sam = client.create_user("sam@example.net", "s3cret", "Sam")
check(sam.display_name == "Sam", sam)
sam.display_name = "Samuel"
sam.save()
check(client.get_user("sam@example.net").display_name == "Samuel", "display name saved")
check(client.get_address("sam@example.net").email == "sam@example.net", "get_address")
expect_http(400, client.create_user, "sam@example.net", "x")
check([l.list_id for l in client.find_lists("anne@example.com")] == ["ant.example.com"], "find_lists by address")
check([l.list_id for l in client.find_lists(user.user_id)] == ["ant.example.com"], "find_lists by user id")
check(sorted(m.list_id for m in user.subscriptions) == ["ant.example.com"], user.subscriptions)

step("a held post accepted through REST reaches the members")
lmtp("eve@example.org", "ant@example.com",
     "From: eve@example.org\r\nTo: ant@example.com\r\nSubject: A word from outside\r\nMessage-ID: <held-1@example.org>\r\n\r\nHello ants.\r\n")
wait("the post to be held", lambda: ant.get_held_count() == 1)
held = ant.held[0]
check(held.sender == "eve@example.org" and held.subject == "A word from outside" and "Hello ants." in held.msg, held)
ant.accept_message(held.request_id)
for rcpt in ["anne@example.com", "bob@example.com", "carl@example.com"]:
    mail_to(rcpt, "[Ant] A word from outside")
check(ant.get_held_count() == 0, "held after accepting")
expect_http(404, lambda: ant.get_held_message(held.request_id).sender)

step("bans")
ant.bans.add("spam@example.com")
check("spam@example.com" in ant.bans, ant.bans)
expect_http(400, ant.bans.add, "spam@example.com")
msg = expect_http(400, ant.subscribe, "spam@example.com", pre_verified=True, pre_confirmed=True)
check(msg == "Membership is banned", msg)
ant.bans.remove("spam@example.com")
client.bans.add("^.*@spam\\.example$")
check("^.*@spam\\.example$" in client.bans, client.bans)

step("header matches")
ant.header_matches.add("Subject", "viagra", "discard")
ant.header_matches.add("X-Spam-Flag", "YES", "hold", "spam")
matches = list(ant.header_matches)
check([(m.header, m.pattern, m.action) for m in matches] == [("subject", "viagra", "discard"), ("x-spam-flag", "YES", "hold")], matches)
matches[0].delete()
check([m.pattern for m in ant.header_matches] == ["YES"], "after deleting one")

step("unsubscribe and delete")
ant.unsubscribe("carl@example.com")
check(not ant.is_member("carl@example.com"), "carl after unsubscribe")
client.get_user("sam@example.net").delete()
expect_http(404, client.get_user, "sam@example.net")
bee.delete()
expect_http(404, client.get_list, "bee@example.com")

step("queues")
names = sorted(client.queues)
check("shunt" in names and "virgin" in names, names)

print("mailmanclient scenario passed", flush=True)
