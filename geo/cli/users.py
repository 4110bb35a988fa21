"""Editor account commands: ``user add``, ``user passwd``, ``user remove`` and ``user list``."""
from __future__ import annotations

import argparse
import sys

from geo.cli.output import print_json


def _read_new_password(args: argparse.Namespace) -> str:
    """The password for ``user add`` / ``passwd``: one line of standard input, or typed twice at a prompt."""
    import getpass

    from geo.registry.auth.errors import AuthError

    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再输入一次 / repeat: ") != first:
        raise AuthError("两次输入的密码不一致。", "The two passwords differ.")
    return first


def run_user(args: argparse.Namespace) -> int:
    """``python -m geo user add|passwd|remove|list``: editor accounts in the accounts file.

    Exit code 0, or 2 when the command was refused or the file holds anything but hashes.
    """
    from geo.registry.auth.accounts import accounts_path, add_user, list_users, remove_user, require_user, set_password
    from geo.registry.auth.errors import AuthError

    path = accounts_path(args.accounts)
    try:
        if args.user_command == "add":
            name, replaced = add_user(args.name, _read_new_password(args), path, replace=args.replace)
            result = {"user": name, "accounts": str(path), "replaced": replaced}
            text = (f"已{'更新' if replaced else '添加'}编辑账户 / editor account "
                    f"{'updated' if replaced else 'added'}: {name} ({path})")
        elif args.user_command == "passwd":
            # Say "no such user" before asking for a password nobody will use.
            require_user(args.name, path=path)
            name = set_password(args.name, _read_new_password(args), path=path)
            result = {"user": name, "accounts": str(path), "changed": True}
            text = f"已更改密码 / password changed: {name} ({path})"
        elif args.user_command == "remove":
            if not remove_user(args.name, path):
                raise AuthError(f"没有用户 {args.name}（{path}）", f"no user {args.name} in {path}")
            result = {"user": args.name, "accounts": str(path), "removed": True}
            text = f"已删除编辑账户 / editor account removed: {args.name} ({path})"
        else:
            users = list_users(path)
            result = {"accounts": str(path), "users": [u["name"] for u in users],
                      "invalid": [u["name"] for u in users if u["scheme"] == "invalid"]}
            text = "\n".join([f"账户文件 / accounts file: {path}"]
                             + [f"  {u['name']} ({u['scheme']})" for u in users]
                             + ([] if users else ["  （没有账户 / no accounts）"]))
    except (AuthError, KeyboardInterrupt, EOFError) as exc:
        message = str(exc) if isinstance(exc, AuthError) else "已取消 / cancelled"
        if args.json:
            print_json({"error": "user", "message": message})
        print(message, file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    else:
        print(text)
    if result.get("invalid"):
        # The app refuses a file holding anything but hashes: say so, and fail.
        print(f"明文或无效的密码，应用会拒绝此文件 / plain-text or invalid passwords, the app refuses this "
              f"file: {', '.join(result['invalid'])}; python -m geo user add NAME --replace", file=sys.stderr)
        return 2
    return 0
