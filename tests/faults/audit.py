"""The audit after every fault: is everything that was promised still there?

- every backup that ever completed is still listed (the ledger), and nothing
  else is (a listed backup nobody completed would be a partial one);
- ``repo verify --read-data`` is ok;
- every listed backup restores, and the restored environment holds exactly the
  artifacts its source held when the backup was taken, byte for byte.

Broken promises are counted in the Figures rather than raised, so that a long
run reports all it saw.
"""

from __future__ import annotations

import hashlib
import itertools
import threading

from stowage.client import Client
from stowage.errors import EnvironmentNotFound, StowageError

from .figures import Figures

Listing = dict[tuple[int, str], str]  # (kind, artifact id) -> sha256 hex
_names = itertools.count()
_names_lock = threading.Lock()


def fresh_environment_id(prefix: str = "au") -> str:
    """A new environment id, unique within this process."""
    with _names_lock:
        return f"{prefix}{next(_names):06d}"


def listing(client: Client, env: str) -> Listing:
    return {(a.kind, a.name.rsplit("/", 1)[1]): a.sha256 for a in client.list_artifacts(env)}


class Ledger:
    """The backups that completed, each with the artifacts its environment held."""

    def __init__(self) -> None:
        self.expected: dict[str, Listing] = {}

    def add(self, backup: str, held: Listing) -> None:
        self.expected[backup] = dict(held)

    def remove(self, backup: str) -> None:
        del self.expected[backup]

    def names(self) -> list[str]:
        return sorted(self.expected)

    def of(self, env: str) -> list[str]:
        return [n for n in self.names() if n.startswith(f"environments/{env}/backups/")]


def environment_matches(
    client: Client,
    env: str,
    expected: Listing,
    figures: Figures,
    where: str,
    read: set[str] | None = None,
) -> bool:
    """The environment holds exactly ``expected``; each artifact read back and
    hashed. Content is shared by digest: one already in ``read`` (read back
    whole during this audit) is not read again."""
    got = listing(client, env)
    if got != expected:
        missing = sorted(set(expected) - set(got))[:3]
        extra = sorted(set(got) - set(expected))[:3]
        changed = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])[:3]
        figures.problem(
            "lost_backups",
            f"{where}: {env} differs from the backup's source: missing {missing}, "
            f"unexpected {extra}, changed {changed}",
        )
        return False
    read = set() if read is None else read
    for kind, artifact_id in sorted(got):
        if got[(kind, artifact_id)] in read:
            continue
        h = hashlib.sha256()
        for piece in client.read_artifact(env, kind, artifact_id):
            h.update(piece)
        if h.hexdigest() != expected[(kind, artifact_id)]:
            figures.problem(
                "lost_backups", f"{where}: {env} {kind}/{artifact_id} reads back different bytes"
            )
            return False
        read.add(h.hexdigest())
    return True


def restore_matches(
    client: Client,
    backup: str,
    expected: Listing,
    figures: Figures,
    where: str,
    read: set[str] | None = None,
) -> bool:
    """Restores ``backup`` to a new environment, compares it, deletes it."""
    target = fresh_environment_id()
    try:
        client.restore(backup, target).result()
    except StowageError as e:
        figures.problem("lost_backups", f"{where}: restore of {backup} failed: {e}")
        return False
    try:
        ok = environment_matches(client, target, expected, figures, f"{where}: {backup}", read)
        figures.restores_compared += 1
        return ok
    finally:
        try:
            client.delete_environment(target)
        except EnvironmentNotFound:
            pass


def verify_read_data(client: Client, figures: Figures, where: str) -> bool:
    try:
        result = client.verify_repository(read_data=True).result().verify
    except StowageError as e:
        figures.problem("corrupt_repositories", f"{where}: verify failed to run: {e}")
        return False
    figures.verifies += 1
    if not result.ok:
        problems = "; ".join(
            " ".join(x for x in (p.backup, p.item, p.object, p.description) if x)
            for p in result.problems[:5]
        )
        figures.problem("corrupt_repositories", f"{where}: verify --read-data: {problems}")
        return False
    figures.verifies_ok += 1
    return True


def audit(client: Client, ledger: Ledger, figures: Figures, where: str) -> None:
    """Listing, verify --read-data, and a restore of every backup in the ledger."""
    listed = {b.name for b in client.list_backups()}
    for name in ledger.names():
        if name not in listed:
            figures.problem("lost_backups", f"{where}: {name} is no longer listed")
    for name in sorted(listed - set(ledger.expected)):
        figures.problem(
            "listable_partial_backups", f"{where}: {name} is listed but never completed"
        )
    verify_read_data(client, figures, where)
    read: set[str] = set()
    for name in ledger.names():
        if name in listed:
            restore_matches(client, name, ledger.expected[name], figures, where, read)
