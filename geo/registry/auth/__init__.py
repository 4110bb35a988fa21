"""Editor accounts: password hashes, login with rate limiting, session time-outs.

Anyone may look at the public pages; importing, editing and restoring on
the Data page need an editor account. Accounts are kept as argon2 (or
bcrypt) hashes, never as passwords, in a TOML file outside the repository
(:func:`geo.settings.accounts_path`, environment ``GEO_ACCOUNTS``)::

    [editors]
    "zhang.wei" = "$argon2id$v=19$m=65536,t=3,p=4$..."

and/or in an ``[editors]`` table of the same form in Streamlit's secrets,
which the page passes in (this module never imports Streamlit). A file
holding anything that is not such a hash is refused whole.

Failed logins are counted per user name (and per client address) in a
small SQLite file shared by every session of the server and kept across
restarts (:class:`LoginGuard`); a name that failed too often is locked for
a while, whether or not it exists. Unknown names are checked against a
dummy hash, so a login takes as long for them as for real ones. Behind a
reverse proxy the client's address comes from a header named in the
settings (:func:`client_address`), never from one the client may forge.

A password check (argon2: 64 MiB and a third of a second of one core) runs
on a small pool of worker threads (:class:`VerificationPool`); a login that
finds the pool and its short queue full is refused at once with "busy, try
again" (:class:`LoginBusy`), so a burst of logins cannot stall the map.

New passwords (:func:`check_new_password`) have at least
``settings.PASSWORD_MIN_CHARS`` characters and are neither a common
password (``settings.COMMON_PASSWORDS_PATH``) nor repeated characters or a
simple sequence, nor the user name with little added.

A session (:class:`EditorSession`) ends after ``settings.SESSION_IDLE_S``
without activity, ``settings.SESSION_MAX_S`` after the login, or as soon as
the account is removed or its password changed (:func:`check_session`).
The parts: :mod:`~geo.registry.auth.errors` (what can go wrong, in both
languages), :mod:`~geo.registry.auth.passwords` (hashes and the rules for
new passwords), :mod:`~geo.registry.auth.accounts` (the accounts file),
:mod:`~geo.registry.auth.login` (checking a login: the failure counts, the
verification pool, the client's address) and
:mod:`~geo.registry.auth.sessions`. See ``docs/trust.md``.
"""
