# Make config-features.pck: Mailman's own test config.pck with every
# feature migrate.Import21 maps set to something other than its default,
# written as Mailman 2.1 pickles are (protocol 2 here, which Python 3
# writes; text as unicode). Run: python3 make-features-pickle.py BASE OUT
import pickle, sys

with open(sys.argv[1], 'rb') as f:
    d = pickle.load(f, encoding='latin-1')
d['members'].update({'eve@example.com': 'Eve@Example.com', 'banned@example.org': 0})
d['digest_members'] = {'dig@example.com': 0, 'plain@example.com': 0}
d['user_options'] = {
    'bperson@example.com': 128 | 4,      # moderated; acknowledge posts
    'cris.person@example.net': 16 | 2,   # concealed; not own posts
    'dperson@example.org': 256,          # no duplicates
    'plain@example.com': 8,              # plain digests
    'eve@example.com': 0,
}
d['delivery_status'] = {'dperson@example.org': (2, 1262304000.0), 'eve@example.com': (4, 1262304000.0),
                        'dig@example.com': (3, 1262304000.0)}
d['language'] = {'cris.person@example.net': 'el'}
d['usernames'].update({'dig@example.com': 'Dora Digest', 'eve@example.com': 'Ève Ünicode'})
d['default_member_moderation'] = 1
d['member_moderation_action'] = 1
d['accept_these_nonmembers'] = ['^.*@trusted\\.example$', 'friend@example.org', '@other@example.com']
d['hold_these_nonmembers'] = ['held@example.org']
d['reject_these_nonmembers'] = ['spammer@example.net']
d['discard_these_nonmembers'] = ['^spam.*@example\\.net$']
d['ban_list'] = ['banned@example.org', '^.*@banned\\.example$']
d['acceptable_aliases'] = 'alias@example.com\n^other-alias@'
d['header_filter_rules'] = [('X-Spam-Flag: yes', 3, False), ('^subject:.*viagra\n^X-Bad:', 7, False),
                            ('X-Approve: yes', 1, False)]
d['msg_header'] = 'Welcome to the %(real_name)s list'
d['msg_footer'] = '-- \n%(real_name)s mailing list\n%(description)s\nSent to %(user_address)s'
d['goodbye_msg'] = 'Goodbye from %(real_name)s.'
d['dmarc_moderation_action'] = 1
d['from_is_list'] = 2
d['archive'] = 1
d['archive_private'] = 0
d['private_roster'] = 2
d['generic_nonmember_action'] = 3
d['subscribe_policy'] = 3
d['personalize'] = 1
d['reply_goes_to_list'] = 2
d['reply_to_address'] = 'replies@example.com'
d['digest_size_threshhold'] = 50
d['owner'] = ['anne@example.com', 'Olga@Example.com']
d['moderator'] = ['mod@example.com']
d['max_message_size'] = 100
d['description'] = 'Features of an import'
with open(sys.argv[2], 'wb') as f:
    pickle.dump(d, f, protocol=2)
