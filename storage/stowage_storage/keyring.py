"""The master keys a server holds.

Normally one. While a key rotation is unfinished, two: the new key, which is
current and wraps or seals everything new, and the previous one, which still
opens what the rotation has not re-wrapped yet (the process that ran a
rotation keeps it until it restarts, for values it read before). Things that were wrapped say by
which key (its ``key_id``), so opening never has to guess; things from before
key ids existed are tried with each key (AES-GCM tells a wrong key apart).
"""

from __future__ import annotations

from .crypto import MasterKey


class KeyRing:
    def __init__(self, current: MasterKey, previous: MasterKey | None = None) -> None:
        self.current = current
        self.previous = (
            previous if previous is not None and previous.key_id != current.key_id else None
        )

    @classmethod
    def of(cls, keys: KeyRing | MasterKey) -> KeyRing:
        return keys if isinstance(keys, KeyRing) else cls(keys)

    def all(self) -> list[MasterKey]:
        """Every key held, the current one first."""
        return [self.current] if self.previous is None else [self.current, self.previous]

    def by_id(self, key_id: str) -> MasterKey | None:
        return next((k for k in self.all() if k.key_id == key_id), None)

    def adopt(self, new: MasterKey) -> None:
        """Makes ``new`` current, keeping the old current key to open the rest."""
        if new.key_id != self.current.key_id:
            self.previous = self.current
            self.current = new

    def __repr__(self) -> str:
        ids = ", ".join(k.key_id for k in self.all())
        return f"KeyRing({ids})"
